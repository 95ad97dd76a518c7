package pipeline

import (
	"encoding/json"

	"go.yaml.in/yaml/v4"
)

// toJSON renders n as compact JSON (used where an array input lands inside a string).
func toJSON(n *Node) string {
	b, err := json.Marshal(n.Interface())
	if err != nil {
		return ""
	}
	return string(b)
}

// yamlFloats are the YAML spellings of the floats Ruby writes as words.
var yamlFloats = map[string]string{"Infinity": ".inf", "-Infinity": "-.inf", "NaN": ".nan"}

// YAML renders n as a YAML document, keys in their configured order.
func (n *Node) YAML() ([]byte, error) {
	return yaml.Marshal(n.yamlNode())
}

func (n *Node) yamlNode() *yaml.Node {
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: TagNull, Value: "null"}
	}
	switch n.Kind {
	case Map:
		out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, p := range n.Pairs {
			out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: TagStr, Value: p.Key}, p.Value.yamlNode())
		}
		return out
	case Seq:
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if n.Tag == TagReference {
			out.Tag = TagReference
			out.Style = yaml.FlowStyle
		}
		for _, it := range n.Items {
			out.Content = append(out.Content, it.yamlNode())
		}
		return out
	case Scalar:
		out := &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value}
		if n.Tag == "" {
			out.Tag = TagStr
		}
		if v, ok := yamlFloats[n.Value]; ok && n.Tag == TagFloat {
			out.Value = v
		}
		return out
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: TagNull, Value: "null"}
}
