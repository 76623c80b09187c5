package opcua

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/gopcua/opcua/ua"
)

// Check walks b as ua's decoder would decode a value of type t (ua.Decode
// is reflection-driven over the same types) and reports whether decoding
// it is safe: every array length fits in the bytes that carry it, every
// variant is well-formed, every extension object's body is of a type we
// accept, and the nesting is bounded. ua.Decode allocates an array before
// it reads its elements, so a length of 2^31 in a 30-byte request would
// otherwise reserve gigabytes. It returns the bytes the value takes.
func Check(b []byte, t reflect.Type) (int, error) {
	return check(b, t, 0)
}

// maxDepth bounds nesting (variants in variants, structures in arrays).
const maxDepth = 32

var (
	errShort = fmt.Errorf("opcua: message ends inside a value")
	errDepth = fmt.Errorf("opcua: values nested deeper than %d", maxDepth)

	timeType       = reflect.TypeOf(time.Time{})
	nodeIDType     = reflect.TypeOf((*ua.NodeID)(nil))
	expandedIDType = reflect.TypeOf((*ua.ExpandedNodeID)(nil))
	guidType       = reflect.TypeOf((*ua.GUID)(nil))
	textType       = reflect.TypeOf((*ua.LocalizedText)(nil))
	diagType       = reflect.TypeOf((*ua.DiagnosticInfo)(nil))
	variantType    = reflect.TypeOf((*ua.Variant)(nil))
	dataValueType  = reflect.TypeOf((*ua.DataValue)(nil))
	extObjType     = reflect.TypeOf((*ua.ExtensionObject)(nil))
	decoderType    = reflect.TypeOf((*ua.BinaryDecoder)(nil)).Elem()
)

// extBodies are the extension objects a request may carry with a body:
// identity tokens and monitoring filters. Anything else is refused before
// ua would decode it into a type we never checked.
var extBodies = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, v := range []any{
		new(ua.AnonymousIdentityToken), new(ua.UserNameIdentityToken), new(ua.X509IdentityToken),
		new(ua.IssuedIdentityToken), new(ua.DataChangeFilter), new(ua.EventFilter), new(ua.AggregateFilter),
	} {
		m[ua.ExtensionObjectTypeID(v).NodeID.String()] = reflect.TypeOf(v)
	}
	return m
}()

func check(b []byte, t reflect.Type, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errDepth
	}
	switch t {
	case nodeIDType, expandedIDType, guidType, textType:
		// Their own decoders read only fixed fields and length-checked
		// strings.
		v := reflect.New(t.Elem()).Interface().(ua.BinaryDecoder)
		return v.Decode(b)
	case diagType:
		return checkDiag(b, depth)
	case variantType:
		return checkVariant(b, depth)
	case dataValueType:
		return checkDataValue(b, depth)
	case extObjType:
		return checkExtObj(b, depth)
	case timeType:
		return need(b, 8)
	}
	if t.Implements(decoderType) {
		return 0, fmt.Errorf("opcua: no check for %v", t)
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		return need(b, 1)
	case reflect.Int16, reflect.Uint16:
		return need(b, 2)
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		return need(b, 4)
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		return need(b, 8)
	case reflect.String:
		return checkBytes(b)
	case reflect.Ptr:
		return check(b, t.Elem(), depth)
	case reflect.Struct:
		pos := 0
		for i := range t.NumField() {
			n, err := check(b[pos:], t.Field(i).Type, depth+1)
			if err != nil {
				return 0, err
			}
			pos += n
		}
		return pos, nil
	case reflect.Slice, reflect.Array:
		if len(b) < 4 {
			return 0, errShort
		}
		n := binary.LittleEndian.Uint32(b)
		if n == math.MaxUint32 {
			return 4, nil // null array
		}
		rest := b[4:]
		if n > uint32(len(rest)) || t.Kind() == reflect.Array && n > uint32(t.Len()) {
			return 0, fmt.Errorf("opcua: array of %d %v in %d bytes", n, t.Elem(), len(rest))
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return 4 + int(n), nil
		}
		pos := 4
		for range n {
			m, err := check(b[pos:], t.Elem(), depth+1)
			if err != nil {
				return 0, err
			}
			pos += m
		}
		return pos, nil
	}
	return 0, fmt.Errorf("opcua: unsupported type %v", t)
}

func need(b []byte, n int) (int, error) {
	if len(b) < n {
		return 0, errShort
	}
	return n, nil
}

// checkBytes checks a String or ByteString: an int32 length (-1 null).
func checkBytes(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n == math.MaxUint32 || n == 0 {
		return 4, nil
	}
	if n > uint32(len(b)-4) {
		return 0, errShort
	}
	return 4 + int(n), nil
}

// variantElem is each built-in type's check for a variant's values
// (OPC UA Part 6, 5.1.2), by type id.
var variantElem = map[byte]reflect.Type{
	1: reflect.TypeOf(false), 2: reflect.TypeOf(int8(0)), 3: reflect.TypeOf(uint8(0)),
	4: reflect.TypeOf(int16(0)), 5: reflect.TypeOf(uint16(0)), 6: reflect.TypeOf(int32(0)),
	7: reflect.TypeOf(uint32(0)), 8: reflect.TypeOf(int64(0)), 9: reflect.TypeOf(uint64(0)),
	10: reflect.TypeOf(float32(0)), 11: reflect.TypeOf(float64(0)), 12: reflect.TypeOf(""),
	13: timeType, 14: guidType, 15: reflect.TypeOf(""), 16: reflect.TypeOf(""),
	17: nodeIDType, 18: expandedIDType, 19: reflect.TypeOf(uint32(0)),
	20: reflect.TypeOf((*ua.QualifiedName)(nil)), 21: textType, 22: extObjType,
	23: dataValueType, 24: variantType, 25: diagType,
}

func checkVariant(b []byte, depth int) (int, error) {
	if len(b) < 1 {
		return 0, errShort
	}
	mask := b[0]
	if mask&0x3F == 0 {
		return 1, nil // null
	}
	t, ok := variantElem[mask&0x3F]
	if !ok {
		return 0, fmt.Errorf("opcua: variant type %d", mask&0x3F)
	}
	pos := 1
	count := 1
	if mask&0x80 != 0 {
		if len(b) < 5 {
			return 0, errShort
		}
		n := int32(binary.LittleEndian.Uint32(b[1:]))
		pos = 5
		switch {
		case n == -1:
			count = 0
		case n < -1 || int(n) > ua.MaxVariantArrayLength || int(n) > len(b)-pos:
			return 0, fmt.Errorf("opcua: variant array of %d in %d bytes", n, len(b)-pos)
		default:
			count = int(n)
		}
	}
	for range count {
		m, err := check(b[pos:], t, depth+1)
		if err != nil {
			return 0, err
		}
		pos += m
	}
	if mask&0x40 != 0 {
		if len(b) < pos+4 {
			return 0, errShort
		}
		n := int32(binary.LittleEndian.Uint32(b[pos:]))
		pos += 4
		if n < 0 || int(n) > (len(b)-pos)/4 {
			return 0, fmt.Errorf("opcua: %d array dimensions in %d bytes", n, len(b)-pos)
		}
		pos += 4 * int(n)
	}
	return pos, nil
}

// checkDiag checks a DiagnosticInfo, which nests through its inner one.
func checkDiag(b []byte, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errDepth
	}
	if len(b) < 1 {
		return 0, errShort
	}
	mask := b[0]
	pos := 1
	for _, bit := range []byte{0x01, 0x02, 0x08, 0x04} {
		if mask&bit != 0 {
			pos += 4
		}
	}
	if pos > len(b) {
		return 0, errShort
	}
	if mask&0x10 != 0 {
		n, err := checkBytes(b[pos:])
		if err != nil {
			return 0, err
		}
		pos += n
	}
	if mask&0x20 != 0 {
		pos += 4
	}
	if pos > len(b) {
		return 0, errShort
	}
	if mask&0x40 != 0 {
		n, err := checkDiag(b[pos:], depth+1)
		if err != nil {
			return 0, err
		}
		pos += n
	}
	return pos, nil
}

func checkDataValue(b []byte, depth int) (int, error) {
	if len(b) < 1 {
		return 0, errShort
	}
	mask := b[0]
	pos := 1
	if mask&0x01 != 0 {
		n, err := checkVariant(b[pos:], depth+1)
		if err != nil {
			return 0, err
		}
		pos += n
	}
	for _, f := range []struct {
		bit  byte
		size int
	}{{0x02, 4}, {0x04, 8}, {0x10, 2}, {0x08, 8}, {0x20, 2}} {
		if mask&f.bit != 0 {
			pos += f.size
		}
	}
	if pos > len(b) {
		return 0, errShort
	}
	return pos, nil
}

func checkExtObj(b []byte, depth int) (int, error) {
	id := new(ua.ExpandedNodeID)
	pos, err := id.Decode(b)
	if err != nil {
		return 0, err
	}
	if len(b) < pos+1 {
		return 0, errShort
	}
	enc := b[pos]
	pos++
	if enc == 0 {
		return pos, nil
	}
	if len(b) < pos+4 {
		return 0, errShort
	}
	n := binary.LittleEndian.Uint32(b[pos:])
	pos += 4
	if n == 0 || n == math.MaxUint32 {
		return pos, nil
	}
	if n > uint32(len(b)-pos) {
		return 0, errShort
	}
	body := b[pos : pos+int(n)]
	if enc != 1 {
		return 0, fmt.Errorf("opcua: extension object encoding %d", enc)
	}
	t, ok := extBodies[id.NodeID.String()]
	if !ok {
		return 0, fmt.Errorf("opcua: extension object %s not accepted in a request", id.NodeID)
	}
	if _, err := check(body, t, depth+1); err != nil {
		return 0, err
	}
	return pos + int(n), nil
}

// Decode checks b and then decodes it into v (a pointer to a ua type),
// returning the bytes it took. A panic in ua's decoder, which Check should
// make impossible, is returned as an error rather than taking down the
// process.
func Decode(b []byte, v any) (n int, err error) {
	if _, err := Check(b, reflect.TypeOf(v)); err != nil {
		return 0, err
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("opcua: decoding %T: %v", v, r)
		}
	}()
	return ua.Decode(b, v)
}
