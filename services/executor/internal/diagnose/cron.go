package diagnose

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// cronFields are the bounds of the five standard cron fields.
var cronFields = []struct {
	name   string
	lo, hi int
	names  map[string]int
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{"day of week", 0, 7, map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

var cronMacros = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}

// validateSchedule checks a CronJob schedule the way the standard cron
// parser of the CronJob controller reads it: a macro or five fields of
// comma-separated values, ranges and steps, "*" and "?".
func validateSchedule(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		_, rest, _ := strings.Cut(s, " ")
		s = strings.TrimSpace(rest)
	}
	if s == "" {
		return errors.New("empty schedule")
	}
	if strings.HasPrefix(s, "@") {
		if cronMacros[s] || strings.HasPrefix(s, "@every ") {
			return nil
		}
		return fmt.Errorf("unknown macro %q", s)
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fmt.Errorf("expected 5 fields, found %d", len(fields))
	}
	for i, f := range fields {
		if err := validateCronField(f, i); err != nil {
			return fmt.Errorf("%s field %q: %w", cronFields[i].name, f, err)
		}
	}
	return nil
}

func validateCronField(f string, i int) error {
	spec := cronFields[i]
	for _, part := range strings.Split(f, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n <= 0 {
				return fmt.Errorf("bad step %q", step)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := cronValue(lo, spec.lo, spec.hi, spec.names)
		if err != nil {
			return err
		}
		if isRange {
			b, err := cronValue(hi, spec.lo, spec.hi, spec.names)
			if err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("range %s is backwards", rng)
			}
		}
	}
	return nil
}

func cronValue(s string, lo, hi int, names map[string]int) (int, error) {
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}
