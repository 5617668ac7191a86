package inventory

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// NetlinkSource reads permanent MACs and addresses from the kernel over
// rtnetlink (RTM_GETLINK with IFLA_PERM_ADDRESS, kernel 5.6 or later, and
// RTM_GETADDR). It only reads.
type NetlinkSource struct{}

// Links lists every interface the kernel knows by name.
func (NetlinkSource) Links() (map[string]LinkInfo, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := make(map[string]LinkInfo, len(links))
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		li := LinkInfo{PermanentMAC: a.PermHWAddr.String()}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			errs = append(errs, fmt.Errorf("addresses of %s: %w", a.Name, err))
		}
		for _, ad := range addrs {
			li.Addresses = append(li.Addresses, ad.IPNet.String())
		}
		out[a.Name] = li
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}
