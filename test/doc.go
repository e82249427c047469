// Package test is the multi-server test suite: tests that run homeserver
// processes of our binary through package harness and talk to them over
// HTTP with package client. Run it with `make test`, or directly with
// `go test ./test/...` (which builds bin/dendrite first when DENDRITE_BIN is
// unset).
package test
