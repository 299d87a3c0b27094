// Package config fills a service's Config struct from the environment. It
// is the only place in Kubently that reads environment variables.
//
// # Usage
//
// Tag each field with the variable that sets it and its default:
//
//	type Config struct {
//		// NATSURL is the NATS server to connect to.
//		NATSURL string `env:"KUBENTLY_NATS_URL" default:"nats://127.0.0.1:4222"`
//	}
//	var cfg Config
//	err := config.Load(&cfg, os.LookupEnv)
//
// Supported field types: string, bool, int, int64, float64, time.Duration
// and []string (comma- or newline-separated). Fields without an env tag are
// left alone, so flags can set them afterwards.
//
// # Concurrency
//
// Load is safe to call concurrently on distinct structs.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error Load returns for a bad value.
var ErrInvalid = errors.New("config: invalid value")

// LookupFunc looks an environment variable up (os.LookupEnv in production).
type LookupFunc func(key string) (string, bool)

// Env is the process environment as a LookupFunc.
func Env() LookupFunc { return os.LookupEnv }

// Load sets every tagged field of the struct dst points to from lookup,
// falling back to the field's default tag.
func Load(dst any, lookup LookupFunc) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a pointer to a struct, got %T", dst)
	}
	return load(v.Elem(), lookup)
}

func load(v reflect.Value, lookup LookupFunc) error {
	t := v.Type()
	var errs []error
	for i := range t.NumField() {
		f := t.Field(i)
		fv := v.Field(i)
		if f.Anonymous && fv.Kind() == reflect.Struct {
			if err := load(fv, lookup); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		key, ok := f.Tag.Lookup("env")
		if !ok || !f.IsExported() {
			continue
		}
		raw, set := lookup(key)
		if !set {
			def, hasDef := f.Tag.Lookup("default")
			if !hasDef {
				continue
			}
			raw = def
		}
		if err := setField(fv, raw); err != nil {
			if isSecretKey(key) {
				errs = append(errs, fmt.Errorf("%w: %s: not a valid %s", ErrInvalid, key, fv.Type()))
				continue
			}
			errs = append(errs, fmt.Errorf("%w: %s=%q: %w", ErrInvalid, key, raw, err))
		}
	}
	return errors.Join(errs...)
}

func setField(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	case []string:
		fv.Set(reflect.ValueOf(SplitList(raw)))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return err
		}
		fv.SetFloat(n)
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}

// SplitList splits a comma- or newline-separated list, trimming blanks.
func SplitList(raw string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == '\n' }) {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isSecretKey reports whether a variable holds a secret whose value must
// never appear in an error or log line.
func isSecretKey(key string) bool {
	k := strings.ToUpper(key)
	for _, s := range []string{"KEY", "TOKEN", "PASSWORD", "SECRET"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
