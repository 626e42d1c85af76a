package main

// Generators that make real keys and certificates, as the tls provider and GCP do: the engine
// tests serve HTTPS with what the stack issued and verify it against the stack's own CA.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func str(s string) resource.PropertyValue { return resource.NewProperty(s) }

// hashForState is the tls provider's id of keys and requests: the SHA-1 of the PEM, in hex.
func hashForState(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ---- tls_private_key ----

// newPrivateKey follows tls_private_key's algorithm, ecdsa_curve and rsa_bits; privateKeyPem is
// PKCS#1 for RSA, SEC 1 for ECDSA and PKCS#8 for ED25519, as the provider encodes them.
func newPrivateKey(r *rowContext) resource.PropertyValue {
	algorithm := r.lookupString("algorithm")
	var block *pem.Block
	switch algorithm {
	case "RSA":
		bits := 2048
		if v, _, ok := r.lookupValue("rsaBits"); ok && unwrap(v).IsNumber() {
			bits = int(unwrap(v).NumberValue())
		}
		key := must(rsa.GenerateKey(rand.Reader, bits))
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	case "ECDSA":
		curves := map[string]elliptic.Curve{"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521()}
		name := r.lookupString("ecdsaCurve")
		if name == "" {
			name = "P224" // the provider's default curve
		}
		curve, ok := curves[name]
		if !ok {
			panic(fmt.Sprintf("tls_private_key: unknown ecdsa_curve %q", name))
		}
		key := must(ecdsa.GenerateKey(curve, rand.Reader))
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(key))}
	case "ED25519":
		_, key := must2(ed25519.GenerateKey(rand.Reader))
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))}
	default:
		panic(fmt.Sprintf("tls_private_key: unknown algorithm %q", algorithm))
	}
	return str(string(pem.EncodeToMemory(block)))
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func parsePrivateKey(text string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, fmt.Errorf("no PEM block in the private key")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return key.(crypto.Signer), nil
}

func keyOf(r *rowContext, attr string) crypto.Signer {
	return must(parsePrivateKey(r.lookupString(attr)))
}

func keyAlgorithm(key crypto.Signer) string {
	switch key.Public().(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	}
	return "ED25519"
}

func privateKeyPkcs8(r *rowContext) resource.PropertyValue {
	der := must(x509.MarshalPKCS8PrivateKey(keyOf(r, "privateKeyPem")))
	return str(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
}

func publicKeyPem(r *rowContext) resource.PropertyValue {
	der := must(x509.MarshalPKIXPublicKey(keyOf(r, "privateKeyPem").Public()))
	return str(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// sshPublic is nil for keys OpenSSH cannot hold (ECDSA P-224): the provider leaves the OpenSSH
// outputs empty then.
func sshPublic(r *rowContext) ssh.PublicKey {
	key, err := ssh.NewPublicKey(keyOf(r, "privateKeyPem").Public())
	if err != nil {
		return nil
	}
	return key
}

func privateKeyOpenssh(r *rowContext) resource.PropertyValue {
	if sshPublic(r) == nil {
		return str("")
	}
	return str(string(pem.EncodeToMemory(must(ssh.MarshalPrivateKey(keyOf(r, "privateKeyPem"), "")))))
}

func publicKeyOpenssh(r *rowContext) resource.PropertyValue {
	if key := sshPublic(r); key != nil {
		return str(string(ssh.MarshalAuthorizedKey(key)))
	}
	return str("")
}

func fingerprintMd5(r *rowContext) resource.PropertyValue {
	if key := sshPublic(r); key != nil {
		return str(ssh.FingerprintLegacyMD5(key))
	}
	return str("")
}

func fingerprintSha256(r *rowContext) resource.PropertyValue {
	if key := sshPublic(r); key != nil {
		return str(ssh.FingerprintSHA256(key))
	}
	return str("")
}

func idOfPublicKey(r *rowContext) resource.PropertyValue {
	return str(hashForState(r.lookupString("publicKeyPem")))
}

func algorithmOfInput(attr string) func(r *rowContext) resource.PropertyValue {
	return func(r *rowContext) resource.PropertyValue { return str(keyAlgorithm(keyOf(r, attr))) }
}

// ---- certificates ----

// subjectOf reads the tls provider's `subject` block.
func subjectOf(r *rowContext) pkix.Name {
	var name pkix.Name
	one := func(attr string) string { return r.lookupString("subject." + attr) }
	list := func(attr string) []string {
		if s := one(attr); s != "" {
			return []string{s}
		}
		return nil
	}
	name.CommonName = one("commonName")
	name.SerialNumber = one("serialNumber")
	name.Organization = list("organization")
	name.OrganizationalUnit = list("organizationalUnit")
	name.Locality = list("locality")
	name.Province = list("province")
	name.Country = list("country")
	name.PostalCode = list("postalCode")
	name.StreetAddress = strings.Fields(strings.Join(stringList(r, "subject.streetAddresses"), " "))
	return name
}

func stringList(r *rowContext, path string) []string {
	v, known, ok := r.lookupValue(path)
	if !ok || !known || !unwrap(v).IsArray() {
		return nil
	}
	var out []string
	for _, e := range unwrap(v).ArrayValue() {
		if e = unwrap(e); e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// The tls provider's allowed_uses, to key usages and extended key usages (RFC 5280).
var keyUsages = map[string]x509.KeyUsage{
	"digital_signature": x509.KeyUsageDigitalSignature, "content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment": x509.KeyUsageKeyEncipherment, "data_encipherment": x509.KeyUsageDataEncipherment,
	"key_agreement": x509.KeyUsageKeyAgreement, "cert_signing": x509.KeyUsageCertSign,
	"crl_signing": x509.KeyUsageCRLSign, "encipher_only": x509.KeyUsageEncipherOnly, "decipher_only": x509.KeyUsageDecipherOnly,
}
var extKeyUsages = map[string]x509.ExtKeyUsage{
	"any_extended": x509.ExtKeyUsageAny, "server_auth": x509.ExtKeyUsageServerAuth, "client_auth": x509.ExtKeyUsageClientAuth,
	"code_signing": x509.ExtKeyUsageCodeSigning, "email_protection": x509.ExtKeyUsageEmailProtection,
	"ipsec_end_system": x509.ExtKeyUsageIPSECEndSystem, "ipsec_tunnel": x509.ExtKeyUsageIPSECTunnel,
	"ipsec_user": x509.ExtKeyUsageIPSECUser, "timestamping": x509.ExtKeyUsageTimeStamping,
	"ocsp_signing":                  x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto": x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":  x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

func certTemplate(r *rowContext, subject pkix.Name) *x509.Certificate {
	hours := 0.0
	if v, _, ok := r.lookupValue("validityPeriodHours"); ok && unwrap(v).IsNumber() {
		hours = unwrap(v).NumberValue()
	}
	now := time.Now().UTC().Truncate(time.Second)
	isCA := false
	if v, _, ok := r.lookupValue("isCaCertificate"); ok && unwrap(v).IsBool() {
		isCA = unwrap(v).BoolValue()
	}
	t := &x509.Certificate{
		SerialNumber:          must(rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))),
		Subject:               subject,
		NotBefore:             now,
		NotAfter:              now.Add(time.Duration(hours * float64(time.Hour))),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	for _, use := range stringList(r, "allowedUses") {
		if u, ok := keyUsages[use]; ok {
			t.KeyUsage |= u
		} else if e, ok := extKeyUsages[use]; ok {
			t.ExtKeyUsage = append(t.ExtKeyUsage, e)
		}
	}
	return t
}

func addNames(t *x509.Certificate, dns, ips, uris []string) {
	t.DNSNames = dns
	for _, ip := range ips {
		if parsed := net.ParseIP(ip); parsed != nil {
			t.IPAddresses = append(t.IPAddresses, parsed)
		}
	}
	for _, u := range uris {
		if parsed, err := url.Parse(u); err == nil {
			t.URIs = append(t.URIs, parsed)
		}
	}
}

func certPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func parseCert(text string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, fmt.Errorf("no PEM block in the certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// selfSignedCert is tls_self_signed_cert: the subject, names, uses and validity of its inputs,
// signed with its own private_key_pem.
func selfSignedCert(r *rowContext) resource.PropertyValue {
	key := keyOf(r, "privateKeyPem")
	t := certTemplate(r, subjectOf(r))
	addNames(t, stringList(r, "dnsNames"), stringList(r, "ipAddresses"), stringList(r, "uris"))
	return str(certPEM(must(x509.CreateCertificate(rand.Reader, t, t, key.Public(), key))))
}

// certRequest is tls_cert_request: a CSR for the subject and names, signed with private_key_pem.
func certRequest(r *rowContext) resource.PropertyValue {
	t := &x509.CertificateRequest{Subject: subjectOf(r)}
	cert := &x509.Certificate{}
	addNames(cert, stringList(r, "dnsNames"), stringList(r, "ipAddresses"), stringList(r, "uris"))
	t.DNSNames, t.IPAddresses, t.URIs = cert.DNSNames, cert.IPAddresses, cert.URIs
	der := must(x509.CreateCertificateRequest(rand.Reader, t, keyOf(r, "privateKeyPem")))
	return str(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
}

func idOfRequest(r *rowContext) resource.PropertyValue {
	return str(hashForState(r.lookupString("certRequestPem")))
}

// locallySignedCert is tls_locally_signed_cert: the request's subject, names and public key,
// the uses and validity of its inputs, signed by ca_private_key_pem as ca_cert_pem.
func locallySignedCert(r *rowContext) resource.PropertyValue {
	block, _ := pem.Decode([]byte(r.lookupString("certRequestPem")))
	if block == nil {
		panic("tls_locally_signed_cert: cert_request_pem holds no PEM block")
	}
	request := must(x509.ParseCertificateRequest(block.Bytes))
	if err := request.CheckSignature(); err != nil {
		panic(fmt.Sprintf("tls_locally_signed_cert: the request's signature does not verify: %v", err))
	}
	ca := must(parseCert(r.lookupString("caCertPem")))
	t := certTemplate(r, request.Subject)
	t.DNSNames, t.IPAddresses, t.URIs = request.DNSNames, request.IPAddresses, request.URIs
	der := must(x509.CreateCertificate(rand.Reader, t, ca, request.PublicKey, keyOf(r, "caPrivateKeyPem")))
	return str(certPEM(der))
}

func certTime(end bool) func(r *rowContext) resource.PropertyValue {
	return func(r *rowContext) resource.PropertyValue {
		cert := must(parseCert(r.lookupString("certPem")))
		if end {
			return str(cert.NotAfter.UTC().Format(time.RFC3339))
		}
		return str(cert.NotBefore.UTC().Format(time.RFC3339))
	}
}

// readyForRenewal is true once the certificate is within early_renewal_hours of its end.
func readyForRenewal(r *rowContext) resource.PropertyValue {
	cert := must(parseCert(r.lookupString("certPem")))
	early := 0.0
	if v, _, ok := r.lookupValue("earlyRenewalHours"); ok && unwrap(v).IsNumber() {
		early = unwrap(v).NumberValue()
	}
	return resource.NewProperty(time.Now().Add(time.Duration(early * float64(time.Hour))).After(cert.NotAfter))
}

func idOfCert(r *rowContext) resource.PropertyValue {
	return str(must(parseCert(r.lookupString("certPem"))).SerialNumber.String())
}

// newCA is a CA certificate as GCP issues for a cluster's control plane or a Cloud SQL
// instance (its key stays with GCP).
func newCA(commonName string, years int) (*x509.Certificate, string) {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	now := time.Now().UTC().Truncate(time.Second)
	t := &x509.Certificate{
		SerialNumber: must(rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"Google, Inc"}},
		NotBefore:    now, NotAfter: now.AddDate(years, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der := must(x509.CreateCertificate(rand.Reader, t, t, key.Public(), key))
	return must(x509.ParseCertificate(der)), certPEM(der)
}

// clusterMasterAuth is a GKE cluster's masterAuth: the control plane's CA (base64 of its PEM),
// no client certificate (issued only on request, never by this stack).
// With clusterCAEnvVar set, the CA is that one (base64 of its PEM, as GKE answers it).
func clusterMasterAuth(r *rowContext) resource.PropertyValue {
	caBase64 := os.Getenv(clusterCAEnvVar)
	if caBase64 == "" {
		_, ca := newCA(fmt.Sprintf("%s-ca", r.lookupString("name")), 30)
		caBase64 = base64.StdEncoding.EncodeToString([]byte(ca))
	}
	return resource.NewProperty(resource.PropertyMap{
		"clusterCaCertificate":    str(caBase64),
		"clientCertificate":       str(""),
		"clientKey":               str(""),
		"clientCertificateConfig": resource.NewProperty(resource.PropertyMap{"issueClientCertificate": resource.NewProperty(false)}),
	})
}

// serverCaCerts is a Cloud SQL instance's server CA list (the CA that signs the server's TLS
// certificate, which clients verify with sslmode=verify-ca).
func serverCaCerts(r *rowContext) resource.PropertyValue {
	cert, text := newCA("Google Cloud SQL Server CA", 10)
	sum := sha1.Sum(cert.Raw)
	return resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.PropertyMap{
		"cert":            str(text),
		"commonName":      str("C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA,dnQualifier=" + randomHex(32)),
		"createTime":      str(cert.NotBefore.Format(time.RFC3339)),
		"expirationTime":  str(cert.NotAfter.Format(time.RFC3339)),
		"sha1Fingerprint": str(hex.EncodeToString(sum[:])),
	})})
}

// ---- addresses ----

// externalAddressEnvVar makes the echo gcp plugin reserve this address for every EXTERNAL
// global address: the engine tests point it at a loopback address their load balancer (the
// Kestra stand-in behind TLS) listens on, so the stack's https://<address> reaches it.
const externalAddressEnvVar = "PULUMI_ECHO_GCP_EXTERNAL_ADDRESS"

// hashByte picks a stable number from a string (the same resource gets the same address).
func hashByte(s string, i int) int {
	sum := sha256.Sum256([]byte(s))
	return int(sum[i%len(sum)])
}

// globalAddress is a google_compute_global_address's address: for INTERNAL (private services
// access) the first address of a range GCP allocates in 10.112.0.0/12 (outside the stack's own
// subnet, pods and services ranges), else the address the tests chose, else one of TEST-NET-3.
func globalAddress(r *rowContext) resource.PropertyValue {
	if r.lookupString("addressType") == "INTERNAL" {
		return str("10.112.0.0")
	}
	if address := os.Getenv(externalAddressEnvVar); address != "" {
		return str(address)
	}
	return str(fmt.Sprintf("203.0.113.%d", 1+hashByte(r.urn, 0)%254))
}

// clusterEndpointEnvVar and clusterCAEnvVar make every echo GKE cluster answer this endpoint and
// CA: the kube test tier points them at a real kube-apiserver on a loopback address
// (tests/support/kube_control_plane.py), so the stack's Kubernetes provider, configured from the
// cluster's outputs as on GKE, reaches it.
const (
	clusterEndpointEnvVar = "PULUMI_ECHO_GCP_CLUSTER_ENDPOINT"
	clusterCAEnvVar       = "PULUMI_ECHO_GCP_CLUSTER_CA_CERTIFICATE"
)

// clusterEndpoint is the public IP of a cluster's control plane (the tests' when clusterEndpointEnvVar is set).
func clusterEndpoint(r *rowContext) resource.PropertyValue {
	if endpoint := os.Getenv(clusterEndpointEnvVar); endpoint != "" {
		return str(endpoint)
	}
	return str(fmt.Sprintf("198.51.100.%d", 1+hashByte(r.urn, 1)%254))
}

// privateIP is a Cloud SQL instance's address in the private services range.
func privateIP(r *rowContext) resource.PropertyValue {
	return str(fmt.Sprintf("10.112.0.%d", 3+hashByte(r.urn, 2)%200))
}
