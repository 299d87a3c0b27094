package audit

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A cursor is base64url (no padding) of: version byte, stream sequence
// (8 bytes, big endian), CRC-32 (IEEE) of the first 9 bytes. The checksum
// only catches mangled or made-up cursors; a cursor is not a secret and
// not a capability, since every Query applies the caller's filter anyway.
const (
	cursorVersion = 1
	cursorLen     = 1 + 8 + 4
)

func encodeCursor(seq uint64) string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], seq)
	binary.BigEndian.PutUint32(b[9:], crc32.ChecksumIEEE(b[:9]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeCursor returns the stream sequence c starts at; "" is 0 (no
// cursor).
func decodeCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	if len(c) != base64.RawURLEncoding.EncodedLen(cursorLen) {
		return 0, fmt.Errorf("%w: wrong length %d", ErrBadCursor, len(c))
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != cursorLen {
		return 0, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	if b[0] != cursorVersion {
		return 0, fmt.Errorf("%w: unknown version %d", ErrBadCursor, b[0])
	}
	if binary.BigEndian.Uint32(b[9:]) != crc32.ChecksumIEEE(b[:9]) {
		return 0, fmt.Errorf("%w: checksum mismatch", ErrBadCursor)
	}
	seq := binary.BigEndian.Uint64(b[1:9])
	if seq == 0 {
		return 0, fmt.Errorf("%w: zero sequence", ErrBadCursor)
	}
	return seq, nil
}
