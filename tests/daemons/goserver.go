// goserver - a small Go TCP daemon for the --seccomp tests.
//
// Go makes its system calls itself, so LD_PRELOAD never sees them; built
// with CGO_ENABLED=0 it is also a static binary. Standard library only.
//
//	goserver [-reuseport] [-noreuseaddr] [-also ADDR,ADDR...] ADDR
//
// Like every Go listener it sets SO_REUSEADDR unless -noreuseaddr clears
// it again (a legacy daemon: its TIME_WAIT entries block the next start);
// -reuseport sets SO_REUSEPORT, in the ListenConfig Control hook, before
// bind(). -also binds more addresses at once from separate goroutines (so
// from several threads). Each client gets "hello\n" and then the SERVER
// closes first, leaving TIME_WAIT entries on ADDR. Prints "listening ADDR"
// per address once bound; a failed listen prints "error: ..." and exits 1.
// SIGTERM stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

func main() {
	reuseport := flag.Bool("reuseport", false, "set SO_REUSEPORT before bind")
	noreuseaddr := flag.Bool("noreuseaddr", false, "clear the SO_REUSEADDR Go sets")
	also := flag.String("also", "", "more addresses, bound concurrently")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: goserver [-reuseport] [-noreuseaddr] [-also ADDR,...] ADDR")
		os.Exit(2)
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if *noreuseaddr {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
			}
			if serr == nil && *reuseport {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	addrs := []string{flag.Arg(0)}
	if *also != "" {
		addrs = append(addrs, strings.Split(*also, ",")...)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := false
	listeners := make([]net.Listener, len(addrs))
	for i, a := range addrs {
		wg.Add(1)
		go func(i int, a string) {
			defer wg.Done()
			l, err := lc.Listen(context.Background(), "tcp", a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Printf("error: %v\n", err)
				failed = true
				return
			}
			listeners[i] = l
			fmt.Printf("listening %s\n", a)
		}(i, a)
	}
	wg.Wait()
	if failed {
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	for _, l := range listeners {
		go func(l net.Listener) {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello\n"))
				c.Close()
			}
		}(l)
	}
	<-stop
	for _, l := range listeners {
		l.Close()
	}
}
