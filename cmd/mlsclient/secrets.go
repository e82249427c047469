package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/store"
)

// profile returns the profile of --home with the key that unlocks it. For
// a new profile (creating), a missing --key-file is generated and a
// prompted passphrase is asked twice.
func (e *env) profile(creating bool) (client.Profile, error) {
	p := client.Profile{Dir: e.home}
	switch {
	case e.keyFile != "":
		if _, err := os.Stat(e.keyFile); creating && errors.Is(err, fs.ErrNotExist) {
			if err = store.GenerateKeyFile(e.keyFile); err != nil {
				return p, err
			}
			e.notef("made a new key file %s: keep it safe, the profile cannot be opened without it", e.keyFile)
		}
		p.Key = store.KeyFile(e.keyFile)
		return p, nil
	case e.passphraseFile != "":
		line, err := firstLine(e.passphraseFile)
		if err != nil {
			return p, fmt.Errorf("passphrase file: %w", err)
		}
		p.Key = store.Passphrase(line)
		return p, nil
	case e.getenv("MLSCLIENT_PASSPHRASE") != "":
		p.Key = store.Passphrase(e.getenv("MLSCLIENT_PASSPHRASE"))
		return p, nil
	}
	pass, err := e.ask("Passphrase of the profile "+e.home, creating)
	if err != nil {
		return p, fmt.Errorf("%w (or set MLSCLIENT_PASSPHRASE, --passphrase-file or --key-file)", err)
	}
	p.Key = store.Passphrase(pass)
	return p, nil
}

// password returns the account password: from file, $MLSCLIENT_PASSWORD, or
// asked for.
func (e *env) password(file string, confirm bool) (string, error) {
	if file != "" {
		return firstLine(file)
	}
	if p := e.getenv("MLSCLIENT_PASSWORD"); p != "" {
		return p, nil
	}
	p, err := e.ask("Account password", confirm)
	if err != nil {
		return "", fmt.Errorf("%w (or set MLSCLIENT_PASSWORD or --password-file)", err)
	}
	return p, nil
}

func firstLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return line, nil
}

// errNoTerminal: a secret is needed and there is no terminal to ask on.
var errNoTerminal = errors.New("no terminal to ask for it on")

// ask reads a secret from the terminal with echo off (twice when confirm).
func (e *env) ask(prompt string, confirm bool) (string, error) {
	tty, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(tty.Fd())) {
		return "", errNoTerminal
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(e.stderr, prompt+": ")
		defer fmt.Fprintln(e.stderr)
		line, err := term.ReadPassword(int(tty.Fd()))
		return string(line), err
	}
	first, err := read(prompt)
	if err != nil {
		return "", err
	}
	if first == "" {
		return "", errors.New("empty input")
	}
	if confirm {
		again, err := read(prompt + " (again)")
		if err != nil {
			return "", err
		}
		if again != first {
			return "", errors.New("the two entries differ")
		}
	}
	return first, nil
}
