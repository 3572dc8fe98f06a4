package testnode

import (
	"fmt"
	"testing"
)

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	*testing.T
	fatal string
}

func (f *fatalTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestUsePostgres(t *testing.T) {
	for _, tc := range []struct {
		value     string
		want      bool
		wantFatal bool
	}{
		{"", false, false},
		{"sqlite", false, false},
		{"postgres", true, false},
		{"postgresql", false, true},
		{"Postgres", false, true},
	} {
		t.Run(fmt.Sprintf("%q", tc.value), func(t *testing.T) {
			t.Setenv(TestDatabaseEnv, tc.value)
			f := &fatalTB{T: t}
			if got := UsePostgres(f); got != tc.want {
				t.Errorf("UsePostgres = %v, want %v", got, tc.want)
			}
			if (f.fatal != "") != tc.wantFatal {
				t.Errorf("fatal %q, want fatal %v", f.fatal, tc.wantFatal)
			}
		})
	}
}
