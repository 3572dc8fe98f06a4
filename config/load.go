package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/payd/payd/rates"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// Default returns the built-in defaults (no chains).
func Default() *Config {
	c, err := load(nil, "", nil)
	if err != nil {
		panic("config: embedded defaults do not load: " + err.Error())
	}
	return c
}

// Load reads the defaults, then the YAML file at path (if path is not empty),
// then PAYD_* environment variables from environ (os.Environ() in payd). It
// does not Validate.
func Load(path string, environ []string) (*Config, error) {
	var file []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		file = b
	}
	return load(file, path, environ)
}

// LoadBytes is Load from an in-memory YAML document (the demo's embedded config).
func LoadBytes(yaml []byte, environ []string) (*Config, error) {
	return load(yaml, "<embedded>", environ)
}

// LoadWithBase is Load with an extra document (the embedded demo config)
// between the defaults and the file; path may be empty.
func LoadWithBase(base []byte, path string, environ []string) (*Config, error) {
	var file []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		file = b
	}
	return load(file, path, environ, base)
}

func load(file []byte, name string, environ []string, bases ...[]byte) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultsYAML)); err != nil {
		return nil, fmt.Errorf("config: defaults: %w", err)
	}
	for _, b := range bases {
		if err := v.MergeConfig(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("config: embedded base: %w", err)
		}
	}
	if file != nil {
		if err := v.MergeConfig(bytes.NewReader(file)); err != nil {
			return nil, fmt.Errorf("config: %s is not valid YAML: %w", name, err)
		}
	}
	if err := applyEnv(v, environ); err != nil {
		return nil, err
	}
	if unknown := unknownKeys(v.AllKeys()); len(unknown) > 0 {
		var errs []error
		for _, k := range unknown {
			errs = append(errs, cerr(k, "unknown key", "remove it or check its spelling against config.example.yaml"))
		}
		return nil, errors.Join(errs...)
	}
	for name := range v.GetStringMap("chains") {
		key := "chains." + name + ".confirmations"
		if !v.IsSet(key) {
			switch strings.ToLower(v.GetString("chains." + name + ".type")) {
			case "evm":
				v.Set(key, 12)
			case "lightning":
				v.Set(key, 0)
			default:
				v.Set(key, 1)
			}
		}
	}
	c := &Config{}
	hook := mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
	if err := v.Unmarshal(c, viper.DecodeHook(hook)); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, cleanDecodeError(err))
	}
	if c.Rates.Pegs == nil {
		c.Rates.Pegs = rates.DefaultConfig().Pegs
	}
	c.normalize()
	return c, nil
}

// applyEnv sets every PAYD_* variable whose name matches a key payd knows
// (including keys of chains defined only in the environment).
func applyEnv(v *viper.Viper, environ []string) error {
	known := map[string]string{} // PAYD_X_Y → x.y
	for _, k := range v.AllKeys() {
		known["PAYD_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = k
	}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "PAYD_") {
			continue
		}
		if k, ok := known[name]; ok {
			v.Set(k, val)
			continue
		}
		// PAYD_CHAINS_<NAME>_<FIELD> for a chain not (fully) in the file.
		if rest, ok := strings.CutPrefix(name, "PAYD_CHAINS_"); ok {
			for _, f := range chainFields() {
				suffix := "_" + strings.ToUpper(f)
				if chainName, ok := strings.CutSuffix(rest, suffix); ok && chainName != "" {
					v.Set("chains."+strings.ToLower(chainName)+"."+f, val)
					break
				}
			}
		}
	}
	return nil
}

func chainFields() []string {
	var out []string
	t := reflect.TypeOf(Chain{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Slice {
			continue
		}
		out = append(out, f.Tag.Get("mapstructure"))
	}
	// Longest first so "rpc_user" does not shadow a longer suffix.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// KnownKey reports whether a dotted key (as viper flattens it) exists in the
// Config struct. Map fields accept any name at their level.
func KnownKey(key string) bool {
	return knownIn(reflect.TypeOf(Config{}), strings.Split(key, "."))
}

func knownIn(t reflect.Type, parts []string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(parts) == 0 {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(time.Duration(0)) {
			return false
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if strings.EqualFold(f.Tag.Get("mapstructure"), parts[0]) {
				return knownIn(f.Type, parts[1:])
			}
		}
		return false
	case reflect.Map:
		return knownIn(t.Elem(), parts[1:])
	case reflect.Slice:
		// viper does not flatten lists; a key under a list is not addressable.
		return len(parts) == 0
	default:
		return false
	}
}

func unknownKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !KnownKey(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func cleanDecodeError(err error) error {
	s := err.Error()
	s = strings.ReplaceAll(s, "decoding failed due to the following error(s):\n\n", "")
	return errors.New(strings.TrimSpace(s))
}

// normalize fills per-chain defaults that depend on the chain type.
func (c *Config) normalize() {
	for name, ch := range c.Chains {
		ch.Type = strings.ToLower(strings.TrimSpace(ch.Type))
		if ch.PollInterval == 0 {
			ch.PollInterval = time.Second
		}
		if ch.GapLimit == 0 {
			ch.GapLimit = 20
		}
		switch ch.Type {
		case "bitcoin", "lightning":
			if ch.Network == "" {
				ch.Network = "mainnet"
			}
		case "evm":
			if ch.Native.Symbol == "" {
				ch.Native.Symbol = "ETH"
			}
			if ch.MaxLogRange == 0 {
				ch.MaxLogRange = 1000
			}
		}
		c.Chains[name] = ch
	}
}
