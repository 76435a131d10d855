// Package chdbenv points chdb-go at the libchdb shared library before
// chdb-go loads it.
//
// chdb-go opens libchdb.so with dlopen in a package init and panics when it
// is missing, so every binary that links the embedded analytics engine
// needs the library before main runs. This package's init runs earlier:
// since Go 1.21 packages initialize in import-path order among those whose
// imports are ready, and this one imports only syscall (which os, and so
// chdb-go, depends on), so it is always ready, and initialized, before
// chdb-go. It sets CHDB_LIB_PATH to the copy `make deps` installs when the
// environment names none, and when there is no library at all it stops the
// process with a message saying how to get one instead of chdb-go's panic.
package chdbenv

import "syscall"

// Version is the chDB release mailferry is built and tested with: the
// version of the npm package @chdb/lib-linux-x64-gnu whose libchdb.so
// `make deps` installs. The Makefile's CHDB_VERSION must say the same.
const Version = "26.5.3"

// Path is the library in use, as found at start-up.
var Path string

func init() {
	Path = locate(syscall.Getenv)
	if Path == "" {
		msg := "mailferry: libchdb.so (chDB " + Version + ", the embedded analytics engine) was not found.\n" +
			"Run `make deps` to install it into " + cacheDir(syscall.Getenv) + ",\n" +
			"or set CHDB_LIB_PATH to a libchdb.so of chDB " + Version + ".\n"
		_, _ = syscall.Write(2, []byte(msg))
		syscall.Exit(2)
	}
	_ = syscall.Setenv("CHDB_LIB_PATH", Path)
}

// cacheDir is where `make deps` installs the library:
// $MAILFERRY_CACHE/chdb/<version>, by default ~/.cache/mailferry/chdb/<version>.
func cacheDir(getenv func(string) (string, bool)) string {
	base, ok := getenv("MAILFERRY_CACHE")
	if !ok || base == "" {
		home, _ := getenv("HOME")
		base = home + "/.cache/mailferry"
	}
	return base + "/chdb/" + Version
}

// locate returns the library to load: CHDB_LIB_PATH when set (even if the
// file is missing, so the loader's own error names it), else the installed
// copy, else a libchdb.so on LD_LIBRARY_PATH; "" when there is none.
func locate(getenv func(string) (string, bool)) string {
	if p, ok := getenv("CHDB_LIB_PATH"); ok && p != "" {
		return p
	}
	if p := cacheDir(getenv) + "/libchdb.so"; exists(p) {
		return p
	}
	if dirs, ok := getenv("LD_LIBRARY_PATH"); ok {
		start := 0
		for i := 0; i <= len(dirs); i++ {
			if i == len(dirs) || dirs[i] == ':' {
				if d := dirs[start:i]; d != "" && exists(d+"/libchdb.so") {
					return d + "/libchdb.so"
				}
				start = i + 1
			}
		}
	}
	return ""
}

func exists(path string) bool {
	var st syscall.Stat_t
	return syscall.Stat(path, &st) == nil
}
