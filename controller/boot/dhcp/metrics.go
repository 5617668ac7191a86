package dhcp

import (
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the DHCP server sees and does.
type Metrics struct {
	in      *prometheus.CounterVec
	out     *prometheus.CounterVec
	drops   *prometheus.CounterVec
	invalid prometheus.Counter
}

// NewMetrics registers the DHCP metrics with reg (nil: unregistered, for
// tests). inUse, when set, reports the number of bound leases.
func NewMetrics(reg prometheus.Registerer, inUse func() float64) *Metrics {
	m := &Metrics{
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_dhcp_packets_received_total",
			Help: "DHCP packets received, by message type.",
		}, []string{"type"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_dhcp_packets_sent_total",
			Help: "DHCP replies sent, by message type.",
		}, []string{"type"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_dhcp_packets_dropped_total",
			Help: "DHCP packets answered with silence, by reason.",
		}, []string{"reason"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_dhcp_packets_malformed_total",
			Help: "Datagrams on the DHCP ports that are not valid DHCP packets.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.in, m.out, m.drops, m.invalid)
		if inUse != nil {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "corral_dhcp_leases_in_use",
				Help: "Bound, unexpired DHCP leases.",
			}, inUse))
		}
	}
	return m
}

func (m *Metrics) received(t dhcpv4.MessageType) { m.in.WithLabelValues(typeName(t)).Inc() }
func (m *Metrics) sent(t dhcpv4.MessageType)     { m.out.WithLabelValues(typeName(t)).Inc() }
func (m *Metrics) dropped(reason string)         { m.drops.WithLabelValues(reason).Inc() }

// typeName keeps the label set small: unknown types share one label.
func typeName(t dhcpv4.MessageType) string {
	switch t {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeRequest,
		dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak,
		dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform:
		return t.String()
	case dhcpv4.MessageTypeNone:
		return "none"
	}
	return "other"
}
