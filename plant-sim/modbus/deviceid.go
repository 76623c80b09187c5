package modbus

// Device identification object ids (FC43/14).
const (
	ObjVendorName          = 0x00
	ObjProductCode         = 0x01
	ObjMajorMinorRevision  = 0x02
	ObjVendorURL           = 0x03
	ObjProductName         = 0x04
	ObjModelName           = 0x05
	ObjUserApplicationName = 0x06
)

// conformityRegular says we answer basic and regular objects, by stream and
// individually (0x80 = individual access supported, 0x02 = regular level).
const conformityRegular = 0x82

// DeviceID is the identification a device answers FC43/14 with; index is the
// object id. Basic objects (0–2) are mandatory.
type DeviceID [ObjUserApplicationName + 1]string

// AppendDeviceID appends the FC43/14 response PDU for req. It implements the
// specification's stream rules: codes 1–3 start at req.ObjectID when that is
// a known object of the category and at the first object otherwise, and set
// "more follows" when the PDU fills up; code 4 returns one object or 02.
func AppendDeviceID(dst []byte, id *DeviceID, req Request) ([]byte, Exception) {
	last := byte(ObjMajorMinorRevision)
	if req.ReadCode >= 2 {
		last = ObjUserApplicationName
	}
	first := req.ObjectID
	if req.ReadCode == 4 {
		if int(first) >= len(id) || id[first] == "" {
			return dst, ExIllegalAddress
		}
		last = first
	} else if first > last || id[first] == "" {
		first = 0
	}
	start := len(dst)
	dst = append(dst, FuncEncapsulatedInterface, MEIReadDeviceID, req.ReadCode, conformityRegular, 0, 0, 0)
	count := 0
	for obj := int(first); obj <= int(last); obj++ {
		v := id[obj]
		if v == "" {
			continue
		}
		if len(v) > MaxPDU-9 {
			v = v[:MaxPDU-9]
		}
		if len(dst)-start+2+len(v) > MaxPDU {
			dst[start+4] = 0xFF // more follows
			dst[start+5] = byte(obj)
			break
		}
		dst = append(dst, byte(obj), byte(len(v)))
		dst = append(dst, v...)
		count++
	}
	dst[start+6] = byte(count)
	return dst, 0
}
