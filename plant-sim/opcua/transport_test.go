package opcua

import "testing"

// Pending tells a chunk still coming from one that has all come, or that
// ReadChunk will reject without more bytes.
func TestPending(t *testing.T) {
	whole := helloBytes("opc.tcp://plc:4840")
	n := len(whole)
	for _, c := range []struct {
		name  string
		b     []byte
		limit int
		want  int
	}{
		{"nothing", nil, MaxHello, HeaderLen},
		{"part of the header", whole[:3], MaxHello, HeaderLen - 3},
		{"the header", whole[:HeaderLen], MaxHello, n - HeaderLen},
		{"all but one byte", whole[:n-1], MaxHello, 1},
		{"the whole chunk", whole, MaxHello, 0},
		{"a chunk and the start of the next", append(append([]byte{}, whole...), "MSGF"...), MaxHello, 0},
		{"an unknown type", []byte("XYZF\x20\x00\x00\x00"), MaxHello, 0},
		{"an unknown chunk type", []byte("MSGX\x20\x00\x00\x00"), MaxHello, 0},
		{"over the limit", whole[:HeaderLen], n - 1, 0},
		{"shorter than its header", []byte("MSGF\x04\x00\x00\x00"), MaxHello, 0},
	} {
		if got := Pending(c.b, c.limit); got != c.want {
			t.Errorf("%s: Pending = %d, want %d", c.name, got, c.want)
		}
	}
}
