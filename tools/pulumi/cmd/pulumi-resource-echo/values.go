package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/fnv"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/bcrypt"
)

// rowContext is what a template or generator sees: the resource's inputs, the outputs computed
// so far, the provider's configuration and, for updates, the previous outputs.
type rowContext struct {
	urn      string
	inputs   resource.PropertyMap
	outputs  resource.PropertyMap // inputs plus the rows computed so far
	config   map[string]string    // provider configuration, keys without the "<provider>:" prefix
	defaults []string             // config keys a missing input falls back to
	id       string
}

// lookup finds a string property: outputs (inputs and computed rows) first, then the provider
// configuration for the keys the provider defaults from it. ok is false when it is absent;
// unknown values are reported by lookupValue.
func (r *rowContext) lookup(key string) (string, bool) {
	v, known, ok := r.lookupValue(key)
	if !ok || !known {
		return "", false
	}
	v = unwrap(v)
	switch {
	case v.IsString():
		return v.StringValue(), true
	case v.IsNumber():
		return strconv.FormatFloat(v.NumberValue(), 'f', -1, 64), true
	case v.IsBool():
		return strconv.FormatBool(v.BoolValue()), true
	}
	return "", false
}

// lookupValue returns the property (any type), whether it is known, and whether it exists.
func (r *rowContext) lookupValue(key string) (resource.PropertyValue, bool, bool) {
	if head, rest, nested := strings.Cut(key, "."); nested {
		// A dotted path ("metadata.name") walks into objects.
		v, known, ok := r.lookupValue(head)
		for _, part := range strings.Split(rest, ".") {
			if !ok || !known {
				return v, known, ok
			}
			v = unwrap(v)
			if !v.IsObject() {
				return resource.PropertyValue{}, false, false
			}
			v, ok = v.ObjectValue()[resource.PropertyKey(part)]
			ok = ok && !v.IsNull()
			known = ok && !v.ContainsUnknowns()
		}
		return v, known, ok
	}
	if v, has := r.outputs[resource.PropertyKey(key)]; has && !v.IsNull() {
		return v, !v.ContainsUnknowns(), true
	}
	for _, d := range r.defaults {
		if d == key {
			if c, has := r.config[key]; has && c != "" {
				return resource.NewProperty(c), true, true
			}
		}
	}
	return resource.PropertyValue{}, false, false
}

var placeholder = regexp.MustCompile(`\{([A-Za-z0-9_.]+)\}`)

// render evaluates a template. A template that is exactly one placeholder yields that property
// as it is (maps stay maps; a missing one yields an empty map). known is false when a property it
// names is unknown (a preview before its producer exists); an absent property is an error.
func (r *rowContext) render(t string) (resource.PropertyValue, bool, error) {
	if m := placeholder.FindStringSubmatch(t); m != nil && m[0] == t {
		v, known, ok := r.lookupValue(m[1])
		if !ok {
			return resource.NewProperty(resource.PropertyMap{}), true, nil
		}
		return unwrap(v), known, nil
	}
	known := true
	var missing []string
	out := placeholder.ReplaceAllStringFunc(t, func(p string) string {
		key := p[1 : len(p)-1]
		_, isKnown, ok := r.lookupValue(key)
		if !ok {
			missing = append(missing, key)
			return ""
		}
		if !isKnown {
			known = false
			return ""
		}
		s, _ := r.lookup(key)
		return s
	})
	if len(missing) > 0 {
		return resource.PropertyValue{}, false, fmt.Errorf("missing %s (needed for %q)", strings.Join(missing, ", "), t)
	}
	return resource.NewProperty(out), known, nil
}

// unwrap removes secret wrappers at the top of a value.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// ---- generators: server-assigned values, made once at create ----

func randomHex(n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func dockerID(*rowContext) resource.PropertyValue { return resource.NewProperty(randomHex(64)) }

func etag(*rowContext) resource.PropertyValue {
	return resource.NewProperty("BwY" + base64.RawURLEncoding.EncodeToString([]byte(randomHex(8))))
}

func now(*rowContext) resource.PropertyValue {
	return resource.NewProperty(time.Now().UTC().Format(time.RFC3339))
}

func epochMillis(*rowContext) resource.PropertyValue {
	return resource.NewProperty(float64(time.Now().UnixMilli()))
}

func generation(*rowContext) resource.PropertyValue {
	return resource.NewProperty(strconv.FormatInt(time.Now().UnixMicro(), 10))
}

func uniqueID(*rowContext) resource.PropertyValue {
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	if err != nil {
		panic(err)
	}
	return resource.NewProperty("1" + fmt.Sprintf("%020s", n.String()))
}

// projectNumberOf derives a stable 12-digit project number from a project id (GCP assigns one
// per project; the same project always has the same number).
func projectNumberOf(project string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(project))
	return strconv.FormatUint(100000000000+h.Sum64()%900000000000, 10)
}

func projectNumber(r *rowContext) resource.PropertyValue {
	project, _ := r.lookup("project")
	return resource.NewProperty(projectNumberOf(project))
}

func imageID(r *rowContext) resource.PropertyValue {
	name, _ := r.lookup("name")
	sum := sha256.Sum256([]byte("image:" + name))
	return resource.NewProperty("sha256:" + hex.EncodeToString(sum[:]))
}

func repoDigest(r *rowContext) resource.PropertyValue {
	name, _ := r.lookup("name")
	repo := strings.SplitN(strings.SplitN(name, "@", 2)[0], ":", 2)[0]
	sum := sha256.Sum256([]byte("manifest:" + name))
	return resource.NewProperty(repo + "@sha256:" + hex.EncodeToString(sum[:]))
}

// serviceAccountEmail is the email inside a key's serviceAccountId
// ("projects/<p>/serviceAccounts/<email>", or the email itself).
func serviceAccountEmail(r *rowContext) string {
	id, _ := r.lookup("serviceAccountId")
	return id[strings.LastIndex(id, "/")+1:]
}

func keyID(r *rowContext) resource.PropertyValue {
	email := serviceAccountEmail(r)
	project := strings.TrimSuffix(email[strings.Index(email, "@")+1:], ".iam.gserviceaccount.com")
	return resource.NewProperty(fmt.Sprintf("projects/%s/serviceAccounts/%s/keys/%s", project, email, randomHex(40)))
}

// serviceAccountKeyFile is base64 of a JSON key file with a fresh RSA key, like the
// privateKey GCP returns for TYPE_GOOGLE_CREDENTIALS_FILE.
func serviceAccountKeyFile(r *rowContext) resource.PropertyValue {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	email := serviceAccountEmail(r)
	project := strings.TrimSuffix(email[strings.Index(email, "@")+1:], ".iam.gserviceaccount.com")
	file, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  project,
		"private_key_id":              r.id[strings.LastIndex(r.id, "/")+1:],
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                email,
		"client_id":                   uniqueID(r).StringValue(),
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return resource.NewProperty(base64.StdEncoding.EncodeToString(file))
}

func publicKey(*rowContext) resource.PropertyValue {
	return resource.NewProperty(base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\n" +
		randomHex(64) + "\n-----END CERTIFICATE-----\n")))
}

// password follows random_password's arguments: length, the character classes that are on, and
// the minimum count of each.
func password(r *rowContext) resource.PropertyValue {
	num := func(key string, def int) int {
		if v, _, ok := r.lookupValue(key); ok && unwrap(v).IsNumber() {
			return int(unwrap(v).NumberValue())
		}
		return def
	}
	flag := func(key string) bool {
		if v, _, ok := r.lookupValue(key); ok && unwrap(v).IsBool() {
			return unwrap(v).BoolValue()
		}
		return true // every class is on by default
	}
	special := "!@#$%&*()-_=+[]{}<>:?"
	if v, _, ok := r.lookupValue("overrideSpecial"); ok && unwrap(v).IsString() {
		special = unwrap(v).StringValue()
	}
	type class struct {
		chars string
		on    bool
		min   int
	}
	classes := []class{
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", flag("upper"), num("minUpper", 0)},
		{"abcdefghijklmnopqrstuvwxyz", flag("lower"), num("minLower", 0)},
		{"0123456789", flag("numeric"), num("minNumeric", 0)},
		{special, flag("special"), num("minSpecial", 0)},
	}
	pick := func(chars string) byte {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			panic(err)
		}
		return chars[i.Int64()]
	}
	var out []byte
	all := ""
	for _, c := range classes {
		if !c.on {
			continue
		}
		all += c.chars
		for i := 0; i < c.min; i++ {
			out = append(out, pick(c.chars))
		}
	}
	for len(out) < num("length", 16) {
		out = append(out, pick(all))
	}
	// Shuffle, so the minimum counts are not a visible prefix.
	for i := len(out) - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return resource.NewProperty(string(out))
}

func bcryptHash(r *rowContext) resource.PropertyValue {
	result, _ := r.lookup("result")
	hash, err := bcrypt.GenerateFromPassword([]byte(result), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return resource.NewProperty(string(hash))
}
