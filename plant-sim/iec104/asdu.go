package iec104

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// TypeID is an ASDU's type identification.
type TypeID uint8

// The type identifications we encode and decode (IEC 60870-5-101 7.2.1,
// -104 clause 8). Others are answered as unknown (cause 44).
const (
	MSpNa1 TypeID = 1   // M_SP_NA_1 single-point information
	MDpNa1 TypeID = 3   // M_DP_NA_1 double-point information
	MMeNb1 TypeID = 11  // M_ME_NB_1 measured value, scaled
	MMeNc1 TypeID = 13  // M_ME_NC_1 measured value, short floating point
	MSpTb1 TypeID = 30  // M_SP_TB_1 single point with CP56Time2a
	MDpTb1 TypeID = 31  // M_DP_TB_1 double point with CP56Time2a
	MMeTe1 TypeID = 35  // M_ME_TE_1 scaled value with CP56Time2a
	MMeTf1 TypeID = 36  // M_ME_TF_1 short float with CP56Time2a
	CScNa1 TypeID = 45  // C_SC_NA_1 single command
	CDcNa1 TypeID = 46  // C_DC_NA_1 double command
	CSeNb1 TypeID = 49  // C_SE_NB_1 set-point, scaled value
	CSeNc1 TypeID = 50  // C_SE_NC_1 set-point, short floating point
	CScTa1 TypeID = 58  // C_SC_TA_1 single command with CP56Time2a
	CDcTa1 TypeID = 59  // C_DC_TA_1 double command with CP56Time2a
	CSeTb1 TypeID = 62  // C_SE_TB_1 scaled set-point with CP56Time2a
	CSeTc1 TypeID = 63  // C_SE_TC_1 float set-point with CP56Time2a
	MEiNa1 TypeID = 70  // M_EI_NA_1 end of initialisation
	CIcNa1 TypeID = 100 // C_IC_NA_1 interrogation command
	CRdNa1 TypeID = 102 // C_RD_NA_1 read command
	CCsNa1 TypeID = 103 // C_CS_NA_1 clock synchronisation command
)

var typeNames = map[TypeID]string{
	MSpNa1: "M_SP_NA_1", MDpNa1: "M_DP_NA_1", MMeNb1: "M_ME_NB_1", MMeNc1: "M_ME_NC_1",
	MSpTb1: "M_SP_TB_1", MDpTb1: "M_DP_TB_1", MMeTe1: "M_ME_TE_1", MMeTf1: "M_ME_TF_1",
	CScNa1: "C_SC_NA_1", CDcNa1: "C_DC_NA_1", CSeNb1: "C_SE_NB_1", CSeNc1: "C_SE_NC_1",
	CScTa1: "C_SC_TA_1", CDcTa1: "C_DC_TA_1", CSeTb1: "C_SE_TB_1", CSeTc1: "C_SE_TC_1",
	MEiNa1: "M_EI_NA_1", CIcNa1: "C_IC_NA_1", CRdNa1: "C_RD_NA_1", CCsNa1: "C_CS_NA_1",
}

func (t TypeID) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// elemSize is each known type's information element size, without the
// information object address.
var elemSize = [256]int8{
	MSpNa1: 1, MDpNa1: 1, MMeNb1: 3, MMeNc1: 5,
	MSpTb1: 8, MDpTb1: 8, MMeTe1: 10, MMeTf1: 12,
	CScNa1: 1, CDcNa1: 1, CSeNb1: 3, CSeNc1: 5,
	CScTa1: 8, CDcTa1: 8, CSeTb1: 10, CSeTc1: 12,
	MEiNa1: 1, CIcNa1: 1, CRdNa1: 0, CCsNa1: 7,
}

// Known reports whether t is one of the types this package encodes.
func (t TypeID) Known() bool { return t == CRdNa1 || elemSize[t] > 0 }

// ElementSize is t's information element size in octets (without the
// address), or -1 for a type this package does not know.
func (t TypeID) ElementSize() int {
	if !t.Known() {
		return -1
	}
	return int(elemSize[t])
}

// WithTime is the CP56Time2a twin of a monitored type (what spontaneous
// transmission sends), or t itself.
func (t TypeID) WithTime() TypeID {
	switch t {
	case MSpNa1:
		return MSpTb1
	case MDpNa1:
		return MDpTb1
	case MMeNb1:
		return MMeTe1
	case MMeNc1:
		return MMeTf1
	}
	return t
}

// WithoutTime is the command type a time-tagged command stands for.
func (t TypeID) WithoutTime() TypeID {
	switch t {
	case CScTa1:
		return CScNa1
	case CDcTa1:
		return CDcNa1
	case CSeTb1:
		return CSeNb1
	case CSeTc1:
		return CSeNc1
	}
	return t
}

// Cause is a cause of transmission (6 bits).
type Cause uint8

// Causes of transmission (IEC 60870-5-101 7.2.3).
const (
	CausePeriodic     Cause = 1
	CauseBackground   Cause = 2
	CauseSpontaneous  Cause = 3
	CauseInit         Cause = 4
	CauseRequest      Cause = 5
	CauseAct          Cause = 6
	CauseActCon       Cause = 7
	CauseDeact        Cause = 8
	CauseDeactCon     Cause = 9
	CauseActTerm      Cause = 10
	CauseInrogen      Cause = 20 // interrogated by station interrogation
	CauseUnknownType  Cause = 44
	CauseUnknownCause Cause = 45
	CauseUnknownCA    Cause = 46
	CauseUnknownIOA   Cause = 47
)

var causeNames = map[Cause]string{
	CausePeriodic: "per/cyc", CauseBackground: "back", CauseSpontaneous: "spont", CauseInit: "init",
	CauseRequest: "req", CauseAct: "act", CauseActCon: "actcon", CauseDeact: "deact",
	CauseDeactCon: "deactcon", CauseActTerm: "actterm", CauseInrogen: "inrogen",
	CauseUnknownType: "unknown type", CauseUnknownCause: "unknown cause",
	CauseUnknownCA: "unknown common address", CauseUnknownIOA: "unknown object address",
}

func (c Cause) String() string {
	if s, ok := causeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("cause %d", uint8(c))
}

// HeaderLen is the ASDU header in 104: type, VSQ, two cause octets, two
// common address octets.
const HeaderLen = 6

// IOALen is the information object address length in 104.
const IOALen = 3

// BroadcastCA is the global common address.
const BroadcastCA = 0xFFFF

// Header is an ASDU's data unit identifier.
type Header struct {
	Type       TypeID
	SQ         bool  // one address, then a sequence of elements
	Count      uint8 // number of objects or elements, 0..127
	Cause      Cause
	Negative   bool // P/N: negative confirmation
	Test       bool
	Originator uint8
	CA         uint16 // common address of ASDU
}

// ASDU errors.
var (
	ErrShortASDU = errors.New("iec104: asdu shorter than its header")
	ErrASDUSize  = errors.New("iec104: asdu length does not match its objects")
)

// ParseHeader decodes the data unit identifier and returns the information
// objects after it.
func ParseHeader(asdu []byte) (Header, []byte, error) {
	if len(asdu) < HeaderLen {
		return Header{}, nil, ErrShortASDU
	}
	h := Header{
		Type: TypeID(asdu[0]), SQ: asdu[1]&0x80 != 0, Count: asdu[1] & 0x7F,
		Cause: Cause(asdu[2] & 0x3F), Negative: asdu[2]&0x40 != 0, Test: asdu[2]&0x80 != 0,
		Originator: asdu[3], CA: binary.LittleEndian.Uint16(asdu[4:]),
	}
	return h, asdu[HeaderLen:], nil
}

// AppendHeader appends h.
func AppendHeader(dst []byte, h Header) []byte {
	vsq := h.Count & 0x7F
	if h.SQ {
		vsq |= 0x80
	}
	cot := byte(h.Cause) & 0x3F
	if h.Negative {
		cot |= 0x40
	}
	if h.Test {
		cot |= 0x80
	}
	return append(dst, byte(h.Type), vsq, cot, h.Originator, byte(h.CA), byte(h.CA>>8))
}

// Objects walks an ASDU's information objects of a known type: it checks
// that their length matches the header and calls fn with each object's
// address and element. fn returning false stops the walk.
func Objects(h Header, objs []byte, fn func(ioa uint32, elem []byte) bool) error {
	size := h.Type.ElementSize()
	if size < 0 {
		return fmt.Errorf("iec104: %v is not a known type", h.Type)
	}
	n := int(h.Count)
	if h.SQ {
		if n == 0 || len(objs) != IOALen+n*size {
			return ErrASDUSize
		}
		ioa := IOA(objs)
		if ioa+uint32(n-1) > MaxIOA {
			return ErrASDUSize // a sequence running past the last address
		}
		for i := range n {
			if !fn(ioa+uint32(i), objs[IOALen+i*size:IOALen+(i+1)*size]) {
				break
			}
		}
		return nil
	}
	if len(objs) != n*(IOALen+size) {
		return ErrASDUSize
	}
	for i := range n {
		o := objs[i*(IOALen+size):]
		if !fn(IOA(o), o[IOALen:IOALen+size]) {
			break
		}
	}
	return nil
}

// MaxIOA is the highest information object address.
const MaxIOA = 1<<24 - 1

// IOA decodes a three-octet information object address.
func IOA(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
}

// AppendIOA appends a three-octet information object address.
func AppendIOA(dst []byte, ioa uint32) []byte {
	return append(dst, byte(ioa), byte(ioa>>8), byte(ioa>>16))
}

// Quality descriptor bits (SIQ, DIQ, QDS).
const (
	QualityOV = 0x01 // overflow (QDS only)
	QualityBL = 0x10 // blocked
	QualitySB = 0x20 // substituted
	QualityNT = 0x40 // not topical
	QualityIV = 0x80 // invalid
)

// Double-point states (DPI) and double-command states (DCS).
const (
	DoubleIndeterminate = 0
	DoubleOff           = 1
	DoubleOn            = 2
	DoubleFault         = 3 // indeterminate or faulty; not permitted in commands
)

// SelectBit is the S/E bit of SCO, DCO and QOS: 1 = select, 0 = execute.
const SelectBit = 0x80

// QOIStation is the qualifier of a station (global) interrogation.
const QOIStation = 20

// COI causes of initialisation.
const (
	COILocalPowerOn = 0
	COILocalReset   = 1
	COIRemoteReset  = 2
)

// Float32 decodes an IEEE 754 short floating point value.
func Float32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// AppendFloat32 appends an IEEE 754 short floating point value.
func AppendFloat32(dst []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

// Scaled decodes a scaled value (SVA).
func Scaled(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) }

// AppendScaled appends a scaled value.
func AppendScaled(dst []byte, v int16) []byte {
	return binary.LittleEndian.AppendUint16(dst, uint16(v))
}

// CP56Len is a CP56Time2a's size.
const CP56Len = 7

// AppendCP56 appends t as CP56Time2a in t's own location (the 104 time of
// the station), summer-time bit clear, valid.
func AppendCP56(dst []byte, t time.Time) []byte {
	ms := uint16(t.Second()*1000 + t.Nanosecond()/1e6)
	wd := int(t.Weekday())
	if wd == 0 {
		wd = 7 // Monday is 1, Sunday 7
	}
	return append(dst, byte(ms), byte(ms>>8), byte(t.Minute()), byte(t.Hour()),
		byte(t.Day())|byte(wd)<<5, byte(t.Month()), byte(t.Year()%100))
}

// CP56 is a decoded CP56Time2a.
type CP56 struct {
	Time    time.Time // in UTC; years 00..99 are 2000..2099
	Invalid bool
	Summer  bool
}

// ErrCP56 is returned for a CP56Time2a whose fields are out of range.
var ErrCP56 = errors.New("iec104: invalid CP56Time2a")

// ParseCP56 decodes a CP56Time2a from the first 7 octets of b.
func ParseCP56(b []byte) (CP56, error) {
	ms := int(binary.LittleEndian.Uint16(b))
	mn, hr, day, mon, yr := int(b[2]&0x3F), int(b[3]&0x1F), int(b[4]&0x1F), int(b[5]&0x0F), int(b[6]&0x7F)
	if ms > 59999 || mn > 59 || hr > 23 || day < 1 || day > 31 || mon < 1 || mon > 12 || yr > 99 {
		return CP56{}, ErrCP56
	}
	t := time.Date(2000+yr, time.Month(mon), day, hr, mn, ms/1000, ms%1000*1e6, time.UTC)
	if t.Day() != day {
		return CP56{}, ErrCP56 // 31 February and the like
	}
	return CP56{Time: t, Invalid: b[2]&0x80 != 0, Summer: b[3]&0x80 != 0}, nil
}
