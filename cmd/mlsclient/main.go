// Command mlsclient is a command-line Matrix client for MLS rooms
// (MSC4244): it registers or logs in a device, creates MLS rooms, invites,
// joins, sends and prints end-to-end encrypted messages, and shows who is
// in a room's Matrix membership and MLS group. docs/client.md walks through
// it; `mlsclient help` lists the commands.
//
// Each device's state lives in a profile folder (--home), encrypted with a
// passphrase (MLSCLIENT_PASSPHRASE, --passphrase-file, or asked for on the
// terminal) or a key file (--key-file).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/matrix-org/dendrite/msc4244/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
	}))
}

// env is what a command sees of the world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// Options shared by every command.
	home           string
	json           bool
	keyFile        string
	passphraseFile string
}

// command is one subcommand.
type command struct {
	name, args, summary string
	// nargs are the least and most arguments (-1: any number).
	nargs [2]int
	// run runs a command that makes a profile; withClient one that uses
	// the profile of --home.
	run        func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
	withClient func(ctx context.Context, e *env, fs *flag.FlagSet, c *client.Client, args []string) error
	// flags declares the command's own flags on fs.
	flags func(fs *flag.FlagSet)
}

// call checks the number of arguments and runs cmd.
func (cmd *command) call(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if least, most := cmd.nargs[0], cmd.nargs[1]; len(args) < least || (most >= 0 && len(args) > most) {
		return usagef("wrong number of arguments")
	}
	if cmd.run != nil {
		return cmd.run(ctx, e, fs, args)
	}
	c, err := openClient(e)
	if err != nil {
		return err
	}
	return cmd.withClient(ctx, e, fs, c, args)
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// run runs the command line args and returns the exit status: 0 done,
// 1 failed, 2 bad command line.
func run(ctx context.Context, args []string, e *env) int {
	global := flag.NewFlagSet("mlsclient", flag.ContinueOnError)
	global.SetOutput(e.stderr)
	e.sharedFlags(global)
	global.Usage = func() { e.usage() }
	if err := global.Parse(args); err != nil {
		return 2
	}
	if global.NArg() == 0 {
		e.usage()
		return 2
	}
	name, rest := global.Arg(0), global.Args()[1:]
	if name == "help" {
		e.usage()
		return 0
	}
	i := slices.IndexFunc(commands, func(c *command) bool { return c.name == name })
	if i < 0 {
		fmt.Fprintf(e.stderr, "mlsclient: unknown command %q (see mlsclient help)\n", name)
		return 2
	}
	cmd := commands[i]
	fs := flag.NewFlagSet("mlsclient "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	e.sharedFlags(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: mlsclient %s %s\n  %s\n", cmd.name, cmd.args, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if e.home == "" {
		e.home = defaultHome(e.getenv)
	}
	err := cmd.call(ctx, e, fs, fs.Args())
	var usage *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(e.stderr, "mlsclient %s: %s\n", cmd.name, usage.msg)
		fs.Usage()
		return 2
	default:
		e.fail(err)
		return 1
	}
}

// sharedFlags declares the options every command takes, before or after
// the command name.
func (e *env) sharedFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.home, "home", e.home, "profile folder of the device (default $MLSCLIENT_HOME or ~/.mlsclient)")
	fs.BoolVar(&e.json, "json", e.json, "print JSON (one object per line) instead of text")
	fs.StringVar(&e.keyFile, "key-file", e.keyFile, "unlock the profile with this key file instead of a passphrase")
	fs.StringVar(&e.passphraseFile, "passphrase-file", e.passphraseFile, "read the profile passphrase from this file (default $MLSCLIENT_PASSPHRASE, or ask)")
}

func defaultHome(getenv func(string) string) string {
	if h := getenv("MLSCLIENT_HOME"); h != "" {
		return h
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".mlsclient")
	}
	return ".mlsclient"
}

func (e *env) usage() {
	var b strings.Builder
	b.WriteString("usage: mlsclient [--home DIR] [--json] [--key-file F | --passphrase-file F] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-12s %s\n  %-12s   %s\n", c.name, c.args, "", c.summary)
	}
	b.WriteString("\nmlsclient COMMAND -h shows the options of a command. See docs/client.md.\n")
	fmt.Fprint(e.stderr, b.String())
}
