package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client"
	"github.com/matrix-org/dendrite/msc4244/client/matrix"
)

// commands are the subcommands, in the order help lists them.
var commands []*command

func init() {
	commands = []*command{
		{name: "register", args: "[--homeserver URL] USER", nargs: one, summary: "create an account and a profile for its first device", flags: accountFlags, run: runAccount(true)},
		{name: "login", args: "[--homeserver URL] USER", nargs: one, summary: "log an existing account in as a new device with a new profile", flags: accountFlags, run: runAccount(false)},
		{name: "logout", summary: "delete this device on the server (the profile folder stays; remove it by hand)", withClient: runLogout},
		{name: "whoami", summary: "show the profile's user, device and homeserver", withClient: runWhoami},
		{name: "create-room", args: "[--name NAME] [--preset PRESET]", summary: "create an MLS room whose Delivery Service is your homeserver", flags: createRoomFlags, withClient: runCreateRoom},
		{name: "invite", args: "ROOM USER...", nargs: [2]int{2, -1}, summary: "invite users (progress is shown for several)", withClient: runInvite},
		{name: "join", args: "[--via SERVER] ROOM", nargs: one, summary: "join a room", flags: joinFlags, withClient: runJoin},
		{name: "leave", args: "ROOM", nargs: one, summary: "leave a room (the Delivery Service removes your devices from its group)", withClient: runLeave},
		{name: "send", args: "ROOM TEXT...", nargs: [2]int{2, -1}, summary: "send an encrypted text message", withClient: runSend},
		{name: "add-device", args: "ROOM DEVICE", nargs: [2]int{2, 2}, summary: "add another device of yours to the room's MLS group", withClient: runAddDevice},
		{name: "remove-device", args: "ROOM DEVICE", nargs: [2]int{2, 2}, summary: "remove a device of yours from the room's MLS group", withClient: runRemoveDevice},
		{name: "recover", args: "ROOM", nargs: one, summary: "rejoin the room's MLS group after this device lost its state (older messages stay unreadable)", withClient: runRecover},
		{name: "listen", args: "[--all] [--for DURATION]", summary: "print messages and group changes as they arrive (from where the last listen stopped)", flags: listenFlags, withClient: runListen},
		{name: "rooms", summary: "list the rooms this device knows", withClient: runRooms},
		{name: "members", args: "ROOM", nargs: one, summary: "show the room's Matrix members and their devices in the MLS group", withClient: runMembers},
		{name: "devices", args: "[USER]", nargs: [2]int{0, 1}, summary: "list a user's devices and their keys (default: yours)", withClient: runDevices},
	}
}

// one is the nargs of commands that take exactly one argument.
var one = [2]int{1, 1}

func openClient(e *env) (*client.Client, error) {
	p, err := e.profile(false)
	if err != nil {
		return nil, err
	}
	return client.Open(p)
}

func accountFlags(fs *flag.FlagSet) {
	fs.String("homeserver", "", "client-server API URL of the homeserver (default $MLSCLIENT_HOMESERVER or http://127.0.0.1:8008)")
	fs.String("password-file", "", "read the account password from this file (default $MLSCLIENT_PASSWORD, or ask)")
	fs.String("device-name", "mlsclient", "display name of the new device")
}

func flagValue(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

func runAccount(register bool) func(context.Context, *env, *flag.FlagSet, []string) error {
	return func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
		homeserver := flagValue(fs, "homeserver")
		if homeserver == "" {
			homeserver = e.getenv("MLSCLIENT_HOMESERVER")
		}
		if homeserver == "" {
			homeserver = "http://127.0.0.1:8008"
		}
		password, err := e.password(flagValue(fs, "password-file"), register)
		if err != nil {
			return err
		}
		p, err := e.profile(true)
		if err != nil {
			return err
		}
		var c *client.Client
		if register {
			c, err = client.Register(ctx, p, homeserver, matrix.RegisterRequest{
				Username: args[0], Password: password, InitialDeviceDisplayName: flagValue(fs, "device-name"),
			})
		} else {
			c, err = client.Login(ctx, p, homeserver, matrix.LoginRequest{
				User: args[0], Password: password, InitialDeviceDisplayName: flagValue(fs, "device-name"),
			})
		}
		if c == nil {
			return err
		}
		verb := map[bool]string{true: "registered", false: "logged in"}[register]
		e.result(fmt.Sprintf("%s %s, device %s (ed25519 %s)\nprofile: %s", verb, c.UserID(), c.DeviceID(), c.Ed25519(), e.home),
			map[string]string{"user_id": c.UserID(), "device_id": c.DeviceID(), "ed25519": c.Ed25519(), "homeserver": c.Homeserver(), "profile": e.home})
		return err // a device whose keys did not upload yet: retried later
	}
}

func runLogout(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	if err := c.Logout(ctx); err != nil {
		return err
	}
	e.result(fmt.Sprintf("logged out device %s of %s", c.DeviceID(), c.UserID()),
		map[string]string{"user_id": c.UserID(), "device_id": c.DeviceID()})
	return nil
}

func runWhoami(_ context.Context, e *env, _ *flag.FlagSet, c *client.Client, _ []string) error {
	e.result(fmt.Sprintf("%s, device %s (ed25519 %s) on %s", c.UserID(), c.DeviceID(), c.Ed25519(), c.Homeserver()),
		map[string]string{"user_id": c.UserID(), "device_id": c.DeviceID(), "ed25519": c.Ed25519(), "homeserver": c.Homeserver()})
	return nil
}

func createRoomFlags(fs *flag.FlagSet) {
	fs.String("name", "", "room name")
	fs.String("preset", "private_chat", "createRoom preset (private_chat, public_chat, trusted_private_chat)")
	fs.String("history", "", `history visibility ("joined" makes invites notional: invited users join by external commit)`)
}

func runCreateRoom(ctx context.Context, e *env, fs *flag.FlagSet, c *client.Client, args []string) error {
	e.notef("creating the room and its MLS group...")
	roomID, err := c.CreateRoom(ctx, client.CreateRoomOptions{Name: flagValue(fs, "name"), Preset: flagValue(fs, "preset"), HistoryVisibility: flagValue(fs, "history")})
	if err != nil {
		return err
	}
	e.result(fmt.Sprintf("created %s (Delivery Service: %s)", roomID, c.ServerName()),
		map[string]string{"room_id": roomID, "ds": c.ServerName()})
	return nil
}

func runInvite(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	roomID, users := args[0], args[1:]
	for i, user := range users {
		if len(users) > 1 {
			e.progress("inviting", i, len(users), user)
		}
		if err := c.Invite(ctx, roomID, user); err != nil {
			return fmt.Errorf("inviting %s (%d of %d invited): %w", user, i, len(users), err)
		}
		e.result(fmt.Sprintf("invited %s to %s", user, roomID), map[string]string{"room_id": roomID, "invited": user})
	}
	if len(users) > 1 {
		e.progress("inviting", len(users), len(users), "done")
	}
	return nil
}

func joinFlags(fs *flag.FlagSet) {
	fs.String("via", "", "a server in the room, when your homeserver is not (default: the room ID's server)")
}

func runJoin(ctx context.Context, e *env, fs *flag.FlagSet, c *client.Client, args []string) error {
	via := flagValue(fs, "via")
	if via == "" {
		_, via, _ = strings.Cut(args[0], ":")
	}
	roomID, err := c.Join(ctx, args[0], via)
	if err != nil {
		return err
	}
	e.result("joined "+roomID, map[string]string{"room_id": roomID})
	return nil
}

func runLeave(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	if err := c.Leave(ctx, args[0]); err != nil {
		return err
	}
	e.result("left "+args[0], map[string]string{"room_id": args[0], "left": "true"})
	return nil
}

func listenFlags(fs *flag.FlagSet) {
	fs.Bool("all", false, "print the whole journal of this device first, not only what is new")
	fs.Duration("for", 0, "stop after this long (default: until interrupted)")
}

// listenCursor names the journal position where `listen` stopped.
const listenCursor = "listen"

func runListen(ctx context.Context, e *env, fs *flag.FlagSet, c *client.Client, args []string) error {
	from, err := c.Cursor(ctx, listenCursor)
	if err != nil {
		return err
	}
	if flagValue(fs, "all") == "true" {
		from = 0
	}
	if d := fs.Lookup("for").Value.(flag.Getter).Get().(time.Duration); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	next := from
	err = c.Listen(ctx, client.ListenOptions{
		From: from,
		OnEntry: func(en client.Entry) {
			e.result(formatEntry(en, time.Local), en)
			next = en.Seq + 1
		},
		OnError: func(err error) { e.notef("%v (retrying)", err) },
	})
	// Save where we stopped, even when interrupted.
	if saveErr := c.SaveCursor(context.Background(), listenCursor, next); saveErr != nil {
		return saveErr
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func runRooms(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	rooms, err := c.Rooms(ctx)
	if err != nil {
		return err
	}
	for _, roomID := range rooms {
		e.result(roomID, map[string]string{"room_id": roomID})
	}
	return nil
}

func runMembers(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	members, err := c.Members(ctx, args[0])
	if err != nil {
		return err
	}
	devices, epoch, groupErr := c.GroupMembers(ctx, args[0])
	inGroup := map[string][]string{}
	for _, d := range devices {
		inGroup[d.UserID] = append(inGroup[d.UserID], d.DeviceID)
	}
	if groupErr != nil {
		e.notef("MLS group: %v", groupErr)
	} else if !e.json {
		fmt.Fprintf(e.stdout, "%-40s %-8s MLS devices (epoch %d)\n", "USER", "MATRIX", epoch)
	}
	for _, m := range members {
		mlsDevices := inGroup[m.UserID]
		delete(inGroup, m.UserID)
		e.result(fmt.Sprintf("%-40s %-8s %s", m.UserID, m.Membership, orDash(strings.Join(mlsDevices, " "))),
			map[string]any{"user_id": m.UserID, "membership": m.Membership, "mls_devices": mlsDevices, "epoch": epoch})
	}
	// Devices in the group of users Matrix no longer lists (removals the
	// next commit makes).
	for user, ds := range inGroup {
		e.result(fmt.Sprintf("%-40s %-8s %s", user, "-", strings.Join(ds, " ")),
			map[string]any{"user_id": user, "membership": "", "mls_devices": ds, "epoch": epoch})
	}
	return nil
}

func runDevices(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	user := c.UserID()
	if len(args) == 1 {
		user = args[0]
	}
	devices, err := c.Devices(ctx, user)
	if err != nil {
		return err
	}
	for _, d := range devices {
		status := "signature valid"
		if !d.Verified {
			status = "BAD: " + d.Problem
		}
		mark := ""
		if d.UserID == c.UserID() && d.DeviceID == c.DeviceID() {
			mark = " (this device)"
		}
		e.result(fmt.Sprintf("%s %s ed25519 %s, %s%s", d.UserID, d.DeviceID, d.Ed25519, status, mark), d)
	}
	return nil
}

func runSend(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	eventID, err := c.SendText(ctx, args[0], strings.Join(args[1:], " "))
	if err != nil {
		return err
	}
	e.result("sent "+eventID, map[string]string{"room_id": args[0], "event_id": eventID})
	return nil
}

func runAddDevice(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	e.notef("adding device %s to the group of %s...", args[1], args[0])
	if err := c.AddDevice(ctx, args[0], args[1]); err != nil {
		return err
	}
	e.result(fmt.Sprintf("added device %s to %s", args[1], args[0]), map[string]string{"room_id": args[0], "added": args[1]})
	return nil
}

func runRemoveDevice(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	if err := c.RemoveDevice(ctx, args[0], args[1]); err != nil {
		return err
	}
	e.result(fmt.Sprintf("removed device %s from %s", args[1], args[0]), map[string]string{"room_id": args[0], "removed": args[1]})
	return nil
}

func runRecover(ctx context.Context, e *env, _ *flag.FlagSet, c *client.Client, args []string) error {
	e.notef("rejoining the MLS group of %s from the Delivery Service's GroupInfo...", args[0])
	epoch, err := c.Recover(ctx, args[0])
	if err != nil {
		return err
	}
	e.result(fmt.Sprintf("recovered %s at epoch %d: messages sent before epoch %d cannot be decrypted on this device (their keys were lost with the old state)", args[0], epoch, epoch),
		map[string]any{"room_id": args[0], "epoch": epoch, "undecryptable_before_epoch": epoch})
	return nil
}
