package pipeline

// deepMerge returns base with over merged on top, as GitLab merges included files and extends:
// mappings merge key by key, recursively; anything else in over replaces base. Neither input
// is changed.
func deepMerge(base, over *Node) *Node {
	if base == nil {
		return over
	}
	if over == nil {
		return base
	}
	if base.Kind != Map || over.Kind != Map {
		return over
	}
	out := &Node{Kind: Map, Pos: over.Pos, Pairs: make([]Pair, len(base.Pairs), len(base.Pairs)+len(over.Pairs))}
	copy(out.Pairs, base.Pairs)
	for _, p := range over.Pairs {
		i := out.index(p.Key)
		if i < 0 {
			out.Pairs = append(out.Pairs, p)
			continue
		}
		out.Pairs[i] = Pair{Key: p.Key, KeyPos: p.KeyPos, Value: deepMerge(out.Pairs[i].Value, p.Value)}
	}
	return out
}

func (n *Node) index(key string) int {
	for i := range n.Pairs {
		if n.Pairs[i].Key == key {
			return i
		}
	}
	return -1
}
