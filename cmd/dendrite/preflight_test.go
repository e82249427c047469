package main

import (
	"testing"

	"github.com/matrix-org/dendrite/setup/config"
)

func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[config.DataSource]string{
		"postgres://dendrite:s3cret@db:5432/dendrite?sslmode=disable": "postgres://dendrite:xxxxx@db:5432/dendrite?sslmode=disable",
		"host=db user=dendrite password=s3cret dbname=dendrite":       "host=db user=dendrite password=xxxxx dbname=dendrite",
		"host=db password='s3 cret' dbname=dendrite":                  "host=db password=xxxxx dbname=dendrite",
		"host=db user=dendrite dbname=dendrite":                       "host=db user=dendrite dbname=dendrite",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
