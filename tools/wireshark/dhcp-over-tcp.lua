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
local status_names = {
    [0] = "Success", [1] = "UnspecFail", [2] = "QueryTerminated", [3] = "MalformedQuery",
    [4] = "NotAllowed", [5] = "DataMissing", [6] = "ConnectionActive",
    [7] = "CatchUpComplete", [8] = "TLSConnectionRefused",
}
local f_status = ProtoField.uint8("dhcp_lq_tcp.status", "Leasequery status", base.DEC, status_names)
proto.fields = { f_length, f_status }
proto.prefs.port = Pref.uint("TCP port", 67, "Leasequery TCP port (67 by default, RFC 6926 section 6.3)")

-- Decrypted TLS application data of a secure connection (RFC 7724 section 5.2):
-- the same framing, without looking for TLS records again.
local inner = Proto("dhcp_lq_tls", "DHCPv4 Leasequery inside TLS")

local dhcp = Dissector.get("dhcp")
local tls = Dissector.get("tls")

local function message_length(tvb, pinfo, offset)
    return tvb(offset, 2):uint() + 2
end

-- Option 151 (status-code), which Wireshark's DHCP dissector knows only up to
-- NotAllowed (4): the RFC 7724 codes 5-8 are named here. Returns nothing for
-- a message too short or cut off before the option.
local function status_of(msg)
    local offset = 240
    while offset < msg:len() do
        local code = msg(offset, 1):uint()
        if code == 255 then return nil end
        if code == 0 then
            offset = offset + 1
        else
            if offset + 2 > msg:len() then return nil end
            local len = msg(offset + 1, 1):uint()
            if offset + 2 + len > msg:len() then return nil end
            if code == 151 and len >= 1 then return msg(offset + 2, 1) end
            offset = offset + 2 + len
        end
    end
    return nil
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
    local msg = tvb(2, length):tvb()
    local status = status_of(msg)
    if status then
        item:add(f_status, status)
    end
    -- A malformed message (a truncated option, a lying length) is marked,
    -- not raised as a Lua error.
    local ok, err = pcall(function() dhcp:call(msg, pinfo, tree) end)
    if not ok then
        item:add_expert_info(PI_MALFORMED, PI_ERROR, "malformed DHCP message: " .. tostring(err))
    end
    return length + 2
end

-- A TLS record header: handshake, alert, change cipher spec or application
-- data, version 3.x.
local function is_tls_record(tvb)
    if tvb:len() < 3 then return false end
    local kind = tvb(0, 1):uint()
    return kind >= 20 and kind <= 23 and tvb(1, 1):uint() == 3
end

-- The first frame of each connection (by its addresses and ports, either
-- way) that carried a TLS record: from there on it carries TLS only.
local tls_from = {}

local function conversation(pinfo)
    local a = tostring(pinfo.src) .. ":" .. pinfo.src_port
    local b = tostring(pinfo.dst) .. ":" .. pinfo.dst_port
    if a < b then return a .. " " .. b end
    return b .. " " .. a
end

function proto.dissector(tvb, pinfo, tree)
    -- After DHCPTLS the connection carries TLS; with the secrets in the
    -- capture (a Decryption Secrets Block) Wireshark decrypts it and hands
    -- the DHCP inside to the dissector below.
    local key = conversation(pinfo)
    local first = tls_from[key]
    if first == nil and is_tls_record(tvb) then
        first = pinfo.number
        tls_from[key] = first
    end
    if first ~= nil and pinfo.number >= first then
        tls:call(tvb, pinfo, tree)
        return tvb:len()
    end
    dissect_tcp_pdus(tvb, tree, 2, message_length, dissect_message)
    return tvb:len()
end

function inner.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, 2, message_length, dissect_message)
    return tvb:len()
end

local registered = 0

function proto.init()
    tls_from = {}
    local tcp = DissectorTable.get("tcp.port")
    if registered ~= 0 then
        tcp:remove(registered, proto)
    end
    registered = proto.prefs.port
    tcp:add(registered, proto)
end

DissectorTable.get("tcp.port"):add(67, proto)
DissectorTable.get("tls.port"):add(67, inner)
registered = 67
