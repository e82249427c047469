//go:build !linux

package hsprocess

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
