-- RoCEv2 ICRC check for Wireshark / tshark (a postdissector).
--
-- Wireshark's infiniband dissector shows the Invariant CRC but does not
-- verify it (true of 4.0; it has no preference for it). This script does
-- what a RoCE NIC does: it recomputes the ICRC of every RoCEv2-over-IPv4
-- frame (UDP port 4791) the way rxe does (fabric/icrc.ts: CRC-32 seeded
-- 0xdebb20e3 over the IPv4 + UDP + BTH headers with their variant fields
-- masked, then the rest of the packet, inverted, stored little-endian) and
-- flags a mismatch with an expert error. rdma-emu's captures (--pcap) record
-- a packet a fault rule corrupted with the ICRC of the packet before the bit
-- flip, so exactly those frames are flagged.
--
--   tshark -X lua_script:fabric/roce-icrc.lua -r run.pcap -Y 'roce_icrc.status == 0'
--
-- Fields: roce_icrc.status (1 good, 0 bad), roce_icrc.computed.

local bit = bit32 or bit
local band, bxor, rshift, bnot = bit.band, bit.bxor, bit.rshift, bit.bnot

local proto = Proto("roce_icrc", "RoCEv2 ICRC check")
local f_status = ProtoField.uint8("roce_icrc.status", "ICRC status", base.DEC, { [0] = "Bad", [1] = "Good" })
local f_computed = ProtoField.uint32("roce_icrc.computed", "Computed ICRC", base.HEX)
proto.fields = { f_status, f_computed }
local e_bad = ProtoExpert.new("roce_icrc.bad", "Bad RoCEv2 ICRC", expert.group.CHECKSUM, expert.severity.ERROR)
proto.experts = { e_bad }

local TABLE = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do
    if band(c, 1) == 1 then c = bxor(0xedb88320, rshift(c, 1)) else c = rshift(c, 1) end
  end
  TABLE[n] = c
end

local function crc_update(crc, bytes, from, to)
  for i = from, to do
    crc = bxor(TABLE[band(bxor(crc, bytes:get_index(i)), 0xff)], rshift(crc, 8))
  end
  return crc
end

function proto.dissector(tvb, pinfo, tree)
  local len = tvb:captured_len()
  -- Ethernet II, IPv4 without options, UDP to 4791, BTH, ICRC.
  if len < 14 + 20 + 8 + 12 + 4 or len ~= tvb:reported_length_remaining() then return end
  if tvb(12, 2):uint() ~= 0x0800 or tvb(14, 1):uint() ~= 0x45 or tvb(23, 1):uint() ~= 17 then return end
  if tvb(36, 2):uint() ~= 4791 then return end
  local ipLen = tvb(16, 2):uint()
  if 14 + ipLen ~= len then return end
  local head = tvb(14, 40):bytes()
  head:set_index(1, 0xff) -- IPv4 TOS
  head:set_index(8, 0xff) -- TTL
  head:set_index(10, 0xff) -- header checksum
  head:set_index(11, 0xff)
  head:set_index(26, 0xff) -- UDP checksum
  head:set_index(27, 0xff)
  head:set_index(32, 0xff) -- BTH resv8a (FECN, BECN)
  local crc = crc_update(0xdebb20e3, head, 0, 39)
  local rest = tvb(54, len - 54 - 4):bytes()
  if rest:len() > 0 then crc = crc_update(crc, rest, 0, rest:len() - 1) end
  local icrc = band(bnot(crc), 0xffffffff)
  local stored = tvb(len - 4, 4):le_uint()
  local sub = tree:add(proto, tvb(len - 4, 4))
  sub:add(f_computed, tvb(len - 4, 4), icrc)
  if stored == icrc then
    sub:add(f_status, tvb(len - 4, 4), 1)
  else
    local item = sub:add(f_status, tvb(len - 4, 4), 0)
    item:add_proto_expert_info(e_bad, string.format("Bad ICRC: stored 0x%08x, computed 0x%08x", stored, icrc))
  end
end

register_postdissector(proto)
