//go:build unix

package httpapi

import "syscall"

// fdLimit is the process's soft limit on open files (0: unknown).
func fdLimit() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 {
		return 0
	}
	return int64(rl.Cur)
}
