// Command pause is the test cluster's pod sandbox process (upstream's pause image cannot be
// pulled here): PID 1 of every pod's sandbox, it holds the pod's namespaces open, reaps
// orphaned children and exits on SIGINT or SIGTERM, as upstream's pause.c does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
