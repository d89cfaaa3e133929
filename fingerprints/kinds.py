"""The observation vocabulary (DESIGN.md contract 1): every kind an observation may carry.

Kinds are added when a new source needs one and never renamed: stored evidence refers to them by name.
"""

from __future__ import annotations

from typing import Final

#: kind -> what its value holds. Order follows contract 1.
KINDS: Final[dict[str, str]] = {
    "mac": "the full MAC address",
    "http.server": "HTTP Server header",
    "http.title": "HTML page title",
    "http.www_authenticate": "WWW-Authenticate header (realm)",
    "http.favicon_md5": "MD5 of /favicon.ico",
    "http.favicon_mmh3": "MurmurHash3 (x86, 32-bit, signed) of the base64 of the favicon: Shodan's http.favicon.hash",
    "ssh.banner": "SSH identification string",
    "ftp.banner": "FTP greeting",
    "telnet.banner": "Telnet greeting",
    "smtp.banner": "SMTP greeting",
    "rtsp.server": "RTSP Server header",
    "sip.server": "SIP Server header",
    "sip.user_agent": "SIP User-Agent header",
    "snmp.sysdescr": "SNMP sysDescr.0",
    "snmp.sysobjectid": "SNMP sysObjectID.0 as a dotted OID",
    "tls.subject": "certificate subject, RFC 4514",
    "tls.issuer": "certificate issuer, RFC 4514",
    "upnp.server": "SSDP SERVER header",
    "upnp.manufacturer": "UPnP device description manufacturer",
    "upnp.model": "UPnP device description modelName (and number)",
    "mdns.device_info": "mDNS TXT record",
    "mdns.service": "mDNS service type",
    "dhcp.vendor_class": "DHCP option 60",
    "dhcp.hostname": "DHCP option 12",
    "lldp.sysdesc": "LLDP system description TLV",
    "lldp.sysname": "LLDP system name TLV",
    "cdp.platform": "CDP platform TLV",
    "modbus.vendor": "Modbus MEI 0x0E object 0x00 (VendorName)",
    "modbus.product": "Modbus MEI 0x0E objects 0x01/0x04/0x05 (ProductCode/ProductName/ModelName)",
    "s7.module": "S7 SZL 0x0011 module order number / 0x001C module type",
    "s7.vendor": "S7 SZL 0x001C copyright / vendor text",
    "enip.vendor_id": "CIP identity vendor id (decimal)",
    "enip.product": "CIP identity product name",
    "bacnet.vendor_id": "BACnet device object vendor-identifier (decimal)",
    "bacnet.model": "BACnet device object model-name / vendor-name",
    "profinet.vendor_id": "PROFINET DCP DeviceID block: VendorID:DeviceID in hex (0x002a:0x0313)",
    "profinet.device": "PROFINET DCP DeviceVendorValue: the device's type as it names itself (S7-1500, SCALANCE X-200)",
    "nmap.cpe": "CPE string from nmap",
    "nmap.service": "nmap product line (product version extrainfo)",
    "nmap.os": "nmap OS class",
    "host.hardware": "DMI system vendor and product",
    "host.package": "installed package: name version maintainer",
    "host.pci": "PCI vendor:device id and names",
    "host.usb": "USB vendor:product id and names",
}

KIND_NAMES: Final[frozenset[str]] = frozenset(KINDS)
