package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The keys of Settings are found from its toml tags, so a setting added to
// the struct (a new limit, a new section) can be set, listed and checked
// without touching this file.

// settingField is one settable key: its dotted toml name and where it sits.
type settingField struct {
	key   string
	index []int
	typ   reflect.Type
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// settingFields walks t (a struct type) for leaf keys.
func settingFields(t reflect.Type, prefix string, index []int) []settingField {
	var out []settingField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		idx := append(append([]int{}, index...), i)
		ft := f.Type
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler) {
			out = append(out, settingFields(ft, prefix+name+".", idx)...)
			continue
		}
		out = append(out, settingField{key: prefix + name, index: idx, typ: ft})
	}
	return out
}

func fieldsOfSettings() []settingField {
	return settingFields(reflect.TypeFor[Settings](), "", nil)
}

// SettingKeys lists every key `smtptls set` accepts, sorted.
func SettingKeys() []string {
	fs := fieldsOfSettings()
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	sort.Strings(keys)
	return keys
}

// UnknownKeyError is a key that Settings does not have.
type UnknownKeyError struct{ Key string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown setting %q; the known ones are: %s", e.Key, strings.Join(SettingKeys(), ", "))
}

// SetKey sets one key of s from its text as typed on a command line
// (`limits.max_connections=50`, `listen=127.0.0.1:2526`,
// `accept_domains=a.example,b.example` for a list).
func SetKey(s *Settings, key, value string) error {
	for _, f := range fieldsOfSettings() {
		if f.key != key {
			continue
		}
		v := reflect.ValueOf(s).Elem().FieldByIndex(f.index)
		if err := setValue(v, value); err != nil {
			return fmt.Errorf("%s=%s: %w", key, value, err)
		}
		return nil
	}
	return &UnknownKeyError{Key: key}
}

// GetKey renders one key of s the way SetKey reads it.
func GetKey(s Settings, key string) (string, bool) {
	for _, f := range fieldsOfSettings() {
		if f.key == key {
			return formatValue(reflect.ValueOf(s).FieldByIndex(f.index)), true
		}
	}
	return "", false
}

func setValue(v reflect.Value, text string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(text))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a whole number of 0 or more")
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(text, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a number")
		}
		v.SetFloat(n)
	case reflect.Slice:
		// A list: comma separated, empty text clears it.
		var parts []string
		if strings.TrimSpace(text) != "" {
			parts = strings.Split(text, ",")
		}
		sl := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setValue(sl.Index(i), strings.TrimSpace(p)); err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
		}
		v.Set(sl)
	default:
		return fmt.Errorf("this setting cannot be set from the command line (type %s)", v.Type())
	}
	return nil
}

func formatValue(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err == nil {
			return string(b)
		}
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// MinTimeout is the shortest timeout an admin may set: below it no real
// peer completes a command, let alone a TLS handshake.
const MinTimeout = time.Second

// Sane reports the first setting that Check lets through but that would
// break the gateway in practice: every timeout (any Duration setting; zero
// outside [limits] means not set) at least MinTimeout, every limit (an
// integer in [limits]) at least 1, and a host name that is a DNS name. Everything that makes a generation live
// runs it, after Check.
func (s Settings) Sane() error {
	rv := reflect.ValueOf(s)
	for _, f := range fieldsOfSettings() {
		v := rv.FieldByIndex(f.index)
		if d, ok := v.Interface().(Duration); ok {
			// Outside [limits] a zero duration may mean "not set" (a
			// section's own default); anything else is a timeout.
			unset := d.Duration == 0 && !strings.HasPrefix(f.key, "limits.")
			if d.Duration < MinTimeout && !unset {
				return fmt.Errorf("%s = %s is too short: no timeout may be under %s", f.key, d, MinTimeout)
			}
			continue
		}
		if strings.HasPrefix(f.key, "limits.") {
			switch v.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				if v.Int() < 1 {
					return fmt.Errorf("%s = %d: no limit may be under 1", f.key, v.Int())
				}
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				if v.Uint() < 1 {
					return fmt.Errorf("%s = %d: no limit may be under 1", f.key, v.Uint())
				}
			}
		}
	}
	if err := s.Check(); err != nil {
		return err
	}
	return CheckHostname(s.Hostname)
}

// CheckHostname reports whether name is a DNS host name, as peers will
// look it up and match it against the certificate.
func CheckHostname(name string) error {
	n := strings.TrimSuffix(name, ".")
	bad := func(why string) error {
		return fmt.Errorf("hostname %q is not a DNS name (%s): set it to the name peers use for this gateway, like mail.example.com", name, why)
	}
	if n == "" {
		return bad("it is empty")
	}
	if len(n) > 253 {
		return bad("longer than 253 characters")
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" {
			return bad("an empty label")
		}
		if len(label) > 63 {
			return bad("a label longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a label starts or ends with -")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad(fmt.Sprintf("it contains %q", c))
			}
		}
	}
	return nil
}
