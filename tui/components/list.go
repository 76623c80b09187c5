package components

// Cursor is a selection in a list of n items with a scrolled window of
// height rows, each item taking one row.
type Cursor struct {
	Index  int
	Offset int
}

// Move moves the selection by d within n items and keeps it visible.
func (c *Cursor) Move(d, n, height int) {
	if n == 0 {
		c.Index, c.Offset = 0, 0
		return
	}
	c.Index = max(0, min(n-1, c.Index+d))
	c.Clamp(n, height)
}

// Clamp keeps the cursor valid after the list changed size.
func (c *Cursor) Clamp(n, height int) {
	if n == 0 {
		c.Index, c.Offset = 0, 0
		return
	}
	c.Index = max(0, min(n-1, c.Index))
	height = max(1, height)
	if c.Index < c.Offset {
		c.Offset = c.Index
	}
	if c.Index >= c.Offset+height {
		c.Offset = c.Index - height + 1
	}
	c.Offset = max(0, min(c.Offset, max(0, n-height)))
}
