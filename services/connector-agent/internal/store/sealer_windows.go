//go:build windows

package store

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// dpapiSealer seals with DPAPI in the machine's scope, so the Windows
// service (LocalSystem or its own account) opens what an administrator
// configured from an elevated prompt. What keeps other users out is the
// files' access list: SYSTEM and Administrators only (restrictFile), and
// the sealed bytes are useless on any other machine.
type dpapiSealer struct{}

func newSealer(string) (Sealer, error) { return dpapiSealer{}, nil }

// entropy binds the blobs to this program: another program calling DPAPI
// on the machine cannot open them without knowing it.
var entropy = []byte("mailferry connector agent v1")

func blob(b []byte) *windows.DataBlob {
	if len(b) == 0 {
		return &windows.DataBlob{}
	}
	return &windows.DataBlob{Size: uint32(len(b)), Data: &b[0]}
}

func (dpapiSealer) Seal(plain []byte) ([]byte, error) {
	var out windows.DataBlob
	name, _ := windows.UTF16PtrFromString("mailferry connector agent")
	if err := windows.CryptProtectData(blob(plain), name, blob(entropy), 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN|windows.CRYPTPROTECT_LOCAL_MACHINE, &out); err != nil {
		return nil, fmt.Errorf("CryptProtectData: %w", err)
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return append([]byte(nil), unsafe.Slice(out.Data, out.Size)...), nil
}

func (dpapiSealer) Open(sealed []byte) ([]byte, error) {
	var out windows.DataBlob
	if err := windows.CryptUnprotectData(blob(sealed), nil, blob(entropy), 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out); err != nil {
		return nil, fmt.Errorf("CryptUnprotectData: %w", err)
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return append([]byte(nil), unsafe.Slice(out.Data, out.Size)...), nil
}

func (dpapiSealer) Name() string {
	return "DPAPI (machine scope), files readable by SYSTEM and Administrators only"
}

// privateSDDL grants full control to SYSTEM (SY) and Administrators (BA)
// and nobody else, without inheriting from the parent (P).
const privateSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

func restrict(path string) error {
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

func restrictDir(dir string) error { return restrict(dir) }

func restrictFile(path string) error { return restrict(path) }
