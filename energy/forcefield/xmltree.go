package forcefield

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// element is one XML element with its attributes and children. The System XML
// is small (tens of thousands of elements for a protein), so reading it into a
// tree first keeps the parsing code simple and lets every error name the line
// of the element it is about.
type element struct {
	name     string
	attrs    []xml.Attr
	children []*element
	line     int
}

// readTree reads the whole document and returns its root element.
func readTree(r io.Reader) (*element, error) {
	d := xml.NewDecoder(r)
	var stack []*element
	var root *element
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			e := &element{name: t.Name.Local, attrs: t.Attr, line: line}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, e)
			} else if root == nil {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, errors.New("no XML element found")
	}
	return root, nil
}

// child returns the first child with the given name, or nil.
func (e *element) child(name string) *element {
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// attr returns the value of an attribute and whether it is present.
func (e *element) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (e *element) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: <%s>: %s", e.line, e.name, fmt.Sprintf(format, args...))
}

// float reads a required floating-point attribute.
func (e *element) float(name string) (float64, error) {
	s, ok := e.attr(name)
	if !ok {
		return 0, e.errorf("missing attribute %q", name)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, e.errorf("attribute %s=%q: not a number", name, s)
	}
	return v, nil
}

// floatOr reads an optional floating-point attribute.
func (e *element) floatOr(name string, def float64) (float64, error) {
	if _, ok := e.attr(name); !ok {
		return def, nil
	}
	return e.float(name)
}

// int reads a required integer attribute.
func (e *element) int(name string) (int, error) {
	s, ok := e.attr(name)
	if !ok {
		return 0, e.errorf("missing attribute %q", name)
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, e.errorf("attribute %s=%q: not an integer", name, s)
	}
	return v, nil
}

// intOr reads an optional integer attribute.
func (e *element) intOr(name string, def int) (int, error) {
	if _, ok := e.attr(name); !ok {
		return def, nil
	}
	return e.int(name)
}

// particles reads the attributes p1..pn as particle indices in [0, n).
func (e *element) particles(dst []int, n int) error {
	for k := range dst {
		name := "p" + strconv.Itoa(k+1)
		v, err := e.int(name)
		if err != nil {
			return err
		}
		if v < 0 || v >= n {
			return e.errorf("%s=%d out of range (the System has %d particles)", name, v, n)
		}
		dst[k] = v
	}
	return nil
}
