package privacy

import (
	"strings"

	"github.com/debugai/debugai/evidence"
)

// valueShape is the documented type of a debugai.* attribute.
type valueShape uint8

const (
	shapeInt   valueShape = iota + 1 // an integer
	shapeBool                        // a boolean
	shapeIdent                       // one token: a stream, enum, symbol, device, kernel version or privacy token
	shapeSite                        // a code site: "func file:line", "file:line" or a symbol
)

// debugaiKeys are the debugai.* attributes the node collector sends
// (docs/kernel-events.md) with their types. A debugai.* attribute from any
// sender is kept only when its key is listed here and its value has the
// listed shape; any other is dropped, so a service cannot place text of its
// own under debugai's names.
var debugaiKeys = map[string]valueShape{
	evidence.AttrNodeID:          shapeIdent,
	evidence.AttrStream:          shapeIdent,
	evidence.AttrSeq:             shapeInt,
	evidence.AttrCgroupID:        shapeInt,
	evidence.AttrDurationNS:      shapeInt,
	evidence.AttrFutexAddr:       shapeInt,
	evidence.AttrWakerTID:        shapeInt,
	evidence.AttrValue:           shapeInt,
	evidence.AttrLockHeld:        shapeIdent,
	evidence.AttrLockAcquiring:   shapeIdent,
	evidence.AttrLockHeldSite:    shapeSite,
	evidence.AttrLockAcquireSite: shapeSite,
	evidence.AttrLockCount:       shapeInt,
	evidence.AttrLockName:        shapeIdent,
	"debugai.lock.kind":          shapeIdent,
	"debugai.lock.flavor":        shapeIdent,
	"debugai.fsync.syscall":      shapeIdent,
	"debugai.fsync.fd":           shapeInt,
	"debugai.fsync.ret":          shapeInt,
	"debugai.tcp.socket":         shapeInt,
	"debugai.tcp.state":          shapeIdent,
	"debugai.tcp.local_port":     shapeInt,
	"debugai.tcp.remote_port":    shapeInt,
	"debugai.tcp.local_addr":     shapeIdent,
	"debugai.tcp.remote_addr":    shapeIdent,
	"debugai.block.dev":          shapeIdent,
	"debugai.block.op":           shapeIdent,
	"debugai.block.error":        shapeInt,
	"debugai.block.kthread":      shapeBool,
	"debugai.cpu.interval_ns":    shapeInt,
	"debugai.cpu.periods":        shapeInt,
	"debugai.cpu.controller":     shapeIdent,
	"debugai.anomaly.reason":     shapeIdent,
	"debugai.anomaly.count":      shapeInt,
	"debugai.anomaly.kind":       shapeIdent,
	"debugai.kernel.version":     shapeIdent,
}

// typedKeyOK reports whether a kept attribute under one of debugai's own
// keys (debugai.*, and the kernel.anomaly flag, a boolean) has its
// documented type; attributes under other keys pass.
func typedKeyOK(key string, v evidence.Value) bool {
	switch {
	case key == evidence.AttrKernelAnomaly:
		return v.Kind == evidence.KindBool
	case strings.HasPrefix(key, "debugai."):
		return debugaiValueOK(key, v)
	}
	return true
}

// debugaiValueOK reports whether v has the documented shape of the
// debugai.* key.
func debugaiValueOK(key string, v evidence.Value) bool {
	switch debugaiKeys[key] {
	case shapeInt:
		return v.Kind == evidence.KindInt
	case shapeBool:
		return v.Kind == evidence.KindBool
	case shapeIdent:
		return v.Kind == evidence.KindString && isIdentValue(v.Str)
	case shapeSite:
		if v.Kind != evidence.KindString {
			return false
		}
		fn, loc, ok := strings.Cut(v.Str, " ")
		if !ok {
			return isIdentValue(v.Str)
		}
		file, line, ok := strings.Cut(loc, ":")
		return ok && isIdentValue(fn) && isIdentValue(file) && isDigits(line)
	}
	return false
}

// isIdentValue reports a single token of at most 256 bytes made of the
// characters of symbols, paths, versions and tokens: no spaces, no quotes.
func isIdentValue(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune(".-/:+*()[]<>@,#$~", rune(c)) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
