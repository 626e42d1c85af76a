package main

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// autonaming is how a real provider names a resource the program leaves unnamed, in Check: the
// resource's name in the URN, "-", and random hex characters (resource.NewUniqueName, seeded by
// the engine's CheckRequest.randomSeed as the real providers do). A name given in the old inputs
// is kept, so a resource is named once.
type autonaming struct {
	// The input that receives the name: "name" (pulumi-gcp's SetAutonaming and its lowercase
	// names for compute resources, tfbridge) or "metadata.name" (pulumi-kubernetes'
	// metadata.AssignNameIfAutonamable).
	path string
	// Random characters after "<name>-" (0: NewUniqueName's default, 8) and the longest name.
	randlen, maxlen int
	// pulumi-kubernetes marks the objects it named: metadata.annotations["pulumi.com/autonamed"].
	annotate bool
}

// tfbridge's default (ProviderInfo.SetAutonaming(255, "-"), 7 random characters) and
// pulumi-gcp's lowercaseAutoName() for compute resources (63 characters, lowercase).
var (
	gcpAutoname   = &autonaming{path: "name", randlen: 7, maxlen: 255}
	gcpLowerName  = &autonaming{path: "name", randlen: 7, maxlen: 63}
	k8sAutoname   = &autonaming{path: "metadata.name", annotate: true}
	autonamedNote = resource.PropertyKey("pulumi.com/autonamed")
)

func (a *autonaming) apply(news, olds resource.PropertyMap, name string, seed []byte) (resource.PropertyMap, error) {
	parent, key := news, resource.PropertyKey(a.path)
	if head, rest, nested := strings.Cut(a.path, "."); nested {
		v, has := news[resource.PropertyKey(head)]
		switch {
		case has && v.IsComputed():
			return news, nil // not known yet: the real provider does not name it either
		case has && v.IsObject():
			parent = v.ObjectValue().Copy()
		default:
			parent = resource.PropertyMap{}
		}
		news = news.Copy()
		news[resource.PropertyKey(head)] = resource.NewProperty(parent)
		key = resource.PropertyKey(rest)
	}
	if v, has := parent[key]; has && !v.IsNull() {
		return news, nil // named by the program (or unknown: named once known)
	}
	old := (&rowContext{outputs: olds}).lookupString(a.path)
	if old == "" {
		generated, err := resource.NewUniqueName(seed, strings.ToLower(name)+"-", a.randlen, a.maxlen, nil)
		if err != nil {
			return nil, err
		}
		old = generated
	}
	if !strings.Contains(a.path, ".") {
		news = news.Copy()
		parent = news
	}
	parent[key] = resource.NewProperty(old)
	if a.annotate {
		annotations := resource.PropertyMap{}
		if v, has := parent["annotations"]; has && v.IsObject() {
			annotations = v.ObjectValue().Copy()
		}
		annotations[autonamedNote] = resource.NewProperty("true")
		parent["annotations"] = resource.NewProperty(annotations)
	}
	return news, nil
}

// lookupString is lookup for a dotted path, "" when absent or unknown.
func (r *rowContext) lookupString(path string) string {
	s, _ := r.lookup(path)
	return s
}
