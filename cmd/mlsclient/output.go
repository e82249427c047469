package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
)

// result prints a command's result: the text, or v as one line of JSON.
func (e *env) result(text string, v any) {
	if e.json {
		e.jsonLine(e.stdout, v)
		return
	}
	fmt.Fprintln(e.stdout, text)
}

func (e *env) jsonLine(w interface{ Write([]byte) (int, error) }, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	fmt.Fprintln(w, string(b))
}

// notef tells the user something on stderr.
func (e *env) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.json {
		e.jsonLine(e.stderr, map[string]string{"notice": msg})
		return
	}
	fmt.Fprintln(e.stderr, msg)
}

// progress reports that done of total steps of a long operation are over.
func (e *env) progress(what string, done, total int, item string) {
	if e.json {
		e.jsonLine(e.stderr, map[string]any{"progress": what, "done": done, "total": total, "item": item})
		return
	}
	fmt.Fprintf(e.stderr, "%s: %d/%d %s\n", what, done, total, item)
}

// fail reports the error that ended the command.
func (e *env) fail(err error) {
	if e.json {
		out := map[string]any{"error": err.Error()}
		if code := matrix.ErrCode(err); code != "" {
			out["errcode"] = code
		}
		var rejected *client.RejectedError
		if errors.As(err, &rejected) {
			out["errcode"] = rejected.ErrCode
		}
		e.jsonLine(e.stderr, out)
		return
	}
	fmt.Fprintf(e.stderr, "mlsclient: %v\n", err)
	if hint := hintFor(err); hint != "" {
		fmt.Fprintf(e.stderr, "  %s\n", hint)
	}
}

// hintFor suggests what to do about common errors.
func hintFor(err error) string {
	switch {
	case errors.Is(err, client.ErrNoProfile):
		return "run `mlsclient register` or `mlsclient login` first, or pass --home"
	case errors.Is(err, matrix.ErrUnreachable):
		return "is the homeserver running? Local state is unchanged; try again when it is back"
	case errors.Is(err, client.ErrNoAnswer):
		return "the message stays pending and is retried by the next command that talks to this room"
	case matrix.ErrCode(err) == "M_UNKNOWN_TOKEN":
		return "this device was logged out; make a new profile with `mlsclient login`"
	}
	return ""
}

// formatEntry is the one-line text of a journal entry.
func formatEntry(en client.Entry, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s ", time.UnixMilli(en.TS).In(loc).Format("2006-01-02 15:04:05"), orDash(en.RoomID))
	switch en.Kind {
	case client.KindMessage:
		fmt.Fprintf(&b, "<%s> %s", who(en), en.Text)
	case client.KindUndecryptable:
		fmt.Fprintf(&b, "<%s> ** cannot decrypt: %s **", who(en), en.Error)
	case client.KindMembership, client.KindGroup, client.KindInvite:
		fmt.Fprintf(&b, "* %s", en.Text)
	case client.KindRejected:
		fmt.Fprintf(&b, "! refused by the Delivery Service: %s: %s", en.ErrCode, en.Error)
	default:
		b.WriteString("! ")
		b.WriteString(strings.TrimSpace(en.Text + " " + en.Error))
	}
	return b.String()
}

func who(en client.Entry) string {
	if en.SenderDevice == "" {
		return en.Sender
	}
	return en.Sender + "/" + en.SenderDevice
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
