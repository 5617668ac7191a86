package registry

import (
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Get returns one node.
func (s *Store) Get(id string) (Node, error) {
	var n Node
	err := s.db.View(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		n, ok, err = get(tx, id)
		if err == nil && !ok {
			err = fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return err
	})
	return n, err
}

// ByMAC returns the node that has a NIC with this MAC address.
func (s *Store) ByMAC(mac string) (Node, error) {
	mac = strings.ToLower(mac)
	var id string
	if err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketMACs).Get([]byte(mac)))
		return nil
	}); err != nil {
		return Node{}, err
	}
	if id == "" {
		return Node{}, fmt.Errorf("%w: no node has MAC %s", ErrNotFound, mac)
	}
	return s.Get(id)
}

// List returns every node, ordered by id.
func (s *Store) List() ([]Node, error) {
	var out []Node
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(_, v []byte) error {
			var n Node
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			out = append(out, n)
			return nil
		})
	})
	return out, err
}

// Events returns a node's history, oldest first.
func (s *Store) Events(id string) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(id))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}
