package hsprocess

import "syscall"

// sysProcAttr makes the kernel kill the homeserver when its parent dies, so
// an interrupted test run leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
