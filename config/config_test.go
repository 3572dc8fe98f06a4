package config

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// exampleKeys flattens config.example.yaml into dotted keys, with map entries
// under chains/pegs/… kept by name and list items as "[]".
func exampleKeys(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				keys[prefix] = true
			}
			for k, vv := range x {
				walk(join(prefix, k), vv)
			}
		case []any:
			keys[prefix] = true
			for _, vv := range x {
				if m, ok := vv.(map[string]any); ok {
					for k, vvv := range m {
						walk(prefix+"[]."+k, vvv)
					}
				}
			}
		default:
			keys[prefix] = true
		}
	}
	walk("", doc)
	return keys
}

// structKeys lists every leaf of Config as dotted keys: "*" for a map key,
// "[]" for a list item.
func structKeys(t reflect.Type, prefix string, out map[string]bool) {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		out[prefix] = true
		return
	case t.Kind() == reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			structKeys(t.Field(i).Type, join(prefix, t.Field(i).Tag.Get("mapstructure")), out)
		}
	case t.Kind() == reflect.Map:
		if t.Elem().Kind() == reflect.Struct {
			structKeys(t.Elem(), prefix+".*", out)
		} else {
			out[prefix] = true
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		out[prefix] = true
		structKeys(t.Elem(), prefix+"[]", out)
	default:
		out[prefix] = true
	}
}

// TestExampleConfigInSyncWithStruct keeps config.example.yaml and Config in
// sync both ways, as lnd checks sample-lnd.conf against its flags.
func TestExampleConfigInSyncWithStruct(t *testing.T) {
	ex := exampleKeys(t)
	// Every example key is a key payd knows.
	for k := range ex {
		norm := strings.ReplaceAll(k, "[]", "")
		if !strings.Contains(k, "[]") && !KnownKey(norm) {
			t.Errorf("config.example.yaml has %s, which payd does not know", k)
		}
	}
	// Every struct key is documented in the example (map keys by any name).
	want := map[string]bool{}
	structKeys(reflect.TypeOf(Config{}), "", want)
	var missing []string
	for k := range want {
		found := false
		for e := range ex {
			if matchKey(k, e) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("config.example.yaml does not document: %s", strings.Join(missing, ", "))
	}
}

func matchKey(pattern, key string) bool {
	p, k := strings.Split(pattern, "."), strings.Split(key, ".")
	if len(k) < len(p) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != k[i] {
			return false
		}
	}
	// A map of scalars (rates.static) is documented by any of its entries.
	return len(k) == len(p) || isMapLeaf(pattern)
}

// isMapLeaf: patterns that end at a map of scalars (rates.static) match any child key.
func isMapLeaf(pattern string) bool {
	for _, s := range []string{"rates.static", "rates.pair_sources", "rates.providers.*.symbols", "rates.spreads", "dashboard.explorers"} {
		if pattern == s {
			return true
		}
	}
	return false
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Server.Listen != "127.0.0.1:8080" || c.Invoices.ExpiresIn != 15*time.Minute ||
		c.Invoices.MonitoringWindow != 24*time.Hour || c.Webhooks.Timeout != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	want := []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	if !reflect.DeepEqual(c.Webhooks.RetrySchedule, want) {
		t.Fatalf("retry schedule %v", c.Webhooks.RetrySchedule)
	}
}

func TestSecretRedacted(t *testing.T) {
	s := Secret("hunter2-very-secret")
	for _, got := range []string{s.String(), fmt.Sprintf("%v", s), fmt.Sprintf("%+v", struct{ S Secret }{s}), fmt.Sprintf("%#v", s)} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("secret leaked: %s", got)
		}
	}
	if s.Reveal() != "hunter2-very-secret" {
		t.Fatal("Reveal")
	}
}

func TestConfirmationsDefaultPerChainType(t *testing.T) {
	c, err := LoadBytes([]byte(`
chains:
  btc:
    type: bitcoin
  eth:
    type: evm
  zero:
    type: bitcoin
    confirmations: 0
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Chains["btc"].Confirmations != 1 || c.Chains["eth"].Confirmations != 12 || c.Chains["zero"].Confirmations != 0 {
		t.Fatalf("confirmations: %d %d %d", c.Chains["btc"].Confirmations, c.Chains["eth"].Confirmations, c.Chains["zero"].Confirmations)
	}
}

func TestParseTolerance(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{{"0", 0, true}, {"0.5", 50, true}, {"50", 5000, true}, {"50.01", 0, false}, {"-1", 0, false}, {"1e1", 0, false}, {"0.125", 0, false}}
	for _, tt := range tests {
		got, err := ParseTolerance(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTolerance(%q) = %d, %v", tt.in, got, err)
		}
	}
}
