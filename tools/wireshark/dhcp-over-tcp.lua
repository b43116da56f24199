-- DHCPv4 Leasequery over TCP for Wireshark 4.x.
--
-- RFC 6926 (Bulk Leasequery, section 6.1) and RFC 7724 (Active Leasequery,
-- section 5.1) carry each DHCPv4 message on a TCP connection behind a 2-octet
-- big-endian length. Wireshark registers its DHCP dissector on UDP only, so this
-- plugin takes the framing apart (messages split across segments or several in
-- one segment) and hands each message to Wireshark's own DHCP dissector.
--
-- Load it for one run:   wireshark -X lua_script:tools/wireshark/dhcp-over-tcp.lua file.pcap
--                        tshark    -X lua_script:tools/wireshark/dhcp-over-tcp.lua -r file.pcap
-- or copy it into the personal plugins folder (Help > About > Folders).
--
-- Note: Wireshark shows options 152, 154 and 155 (base-time, query-start-time,
-- query-end-time) with a 1900 epoch, 70 years late; the RFCs use 1970.

local proto = Proto("dhcp_lq_tcp", "DHCPv4 Leasequery over TCP")
local f_length = ProtoField.uint16("dhcp_lq_tcp.length", "Message length", base.DEC)
proto.fields = { f_length }
proto.prefs.port = Pref.uint("TCP port", 67, "Leasequery TCP port (67 by default, RFC 6926 section 6.3)")

local dhcp = Dissector.get("dhcp")

local function message_length(tvb, pinfo, offset)
    return tvb(offset, 2):uint() + 2
end

local function dissect_message(tvb, pinfo, tree)
    local length = tvb(0, 2):uint()
    local item = tree:add(proto, tvb(0, length + 2))
    item:add(f_length, tvb(0, 2))
    if length == 0 then
        item:add_expert_info(PI_MALFORMED, PI_ERROR, "zero length prefix")
        return 2
    end
    pinfo.cols.protocol = "DHCP/TCP"
    dhcp:call(tvb(2, length):tvb(), pinfo, tree)
    return length + 2
end

function proto.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, 2, message_length, dissect_message)
    return tvb:len()
end

local registered = 0

function proto.init()
    local tcp = DissectorTable.get("tcp.port")
    if registered ~= 0 then
        tcp:remove(registered, proto)
    end
    registered = proto.prefs.port
    tcp:add(registered, proto)
end

DissectorTable.get("tcp.port"):add(67, proto)
registered = 67
