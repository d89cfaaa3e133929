"""The engine: weights, components, conflicts, OEM makers, owners over time, fallbacks and 'unknown'."""

from __future__ import annotations

from datetime import date

from fingerprints.engine import Engine
from fingerprints.policy import Policy
from tests.fingerprints.conftest import Obs


def test_banner_outweighs_mac_and_module_maker_becomes_component(engine: Engine, policy: Policy) -> None:
    ident = engine.identify([Obs("http.server", "App-webs/"), Obs("mac", "24:0a:c4:00:00:01")], policy=policy)
    assert ident.vendor_id == "hikvision" and ident.flagged and not ident.weak
    assert [(c.vendor_id, c.role, c.listed) for c in ident.components] == [("espressif", "radio-module", True)]
    assert ident.conflicts == []
    assert any("headquarters in CN" in r for r in ident.flag_reasons)
    assert {e.kind for e in ident.evidence} == {"http.server", "mac"}


def test_disagreeing_vendors_are_shown_as_conflict(engine: Engine, policy: Policy) -> None:
    ident = engine.identify([Obs("ssh.banner", "SSH-2.0-Cisco-1.25"), Obs("mac", "bc:ad:28:00:00:01")],
                            policy=policy)
    assert ident.vendor_id == "cisco" and not ident.flagged
    assert [c.vendor_id for c in ident.conflicts] == ["hikvision"]
    alone = engine.identify([Obs("ssh.banner", "SSH-2.0-Cisco-1.25")], policy=policy)
    assert ident.confidence < alone.confidence  # disagreement lowers confidence


def test_mac_only_is_flagged_but_says_weak(engine: Engine, policy: Policy) -> None:
    ident = engine.identify([Obs("mac", "BC-AD-28-00-00-01")], policy=policy)
    assert ident.vendor_id == "hikvision" and ident.flagged and ident.weak
    assert ident.confidence < 0.5
    assert all("weak evidence" in r for r in ident.flag_reasons)


def test_oem_brand_is_flagged_with_maker(engine: Engine, policy: Policy) -> None:
    ident = engine.identify([Obs("upnp.manufacturer", "Honeywell")], policy=policy)
    assert ident.vendor_id == "honeywell" and ident.country == "US"
    assert ident.flagged and ident.oem_makers == ["dahua"]
    assert any("made by Dahua" in r for r in ident.flag_reasons)


def test_owner_valid_on_the_date(engine: Engine, policy: Policy) -> None:
    obs = [Obs("upnp.manufacturer", "Lorex")]
    then = engine.identify(obs, policy=policy, when=date(2021, 1, 1))
    now = engine.identify(obs, policy=policy, when=date(2025, 1, 1))
    assert then.flagged and then.owner_country == "CN" and any("ultimate owner" in r for r in then.flag_reasons)
    assert not now.flagged and now.owner_country == "TW"


def test_unknown_vendor_falls_back_to_registrant_country(engine: Engine, policy: Policy) -> None:
    # 78:F2:76 is registered to Cyklop Fastjet Technologies (Shanghai), not in the fixture catalogue.
    ident = engine.identify([Obs("mac", "78:f2:76:00:00:01")], policy=policy)
    assert ident.vendor_id is None and ident.country == "CN"
    assert ident.flagged and ident.weak and ident.confidence <= 0.3
    assert "not in the catalogue" in ident.flag_reasons[0]


def test_policy_changes_the_verdict(engine: Engine) -> None:
    only_ru = Policy(version="t", countries=["RU"])
    assert not engine.identify([Obs("snmp.sysobjectid", "1.3.6.1.4.1.2011.2.23.1")], policy=only_ru).flagged
    ident = engine.identify([Obs("host.package", "kesl 12.1.0.1297 AO Kaspersky Lab")], policy=only_ru)
    assert ident.vendor_id == "kaspersky" and ident.flagged


def test_ot_identities(engine: Engine, policy: Policy) -> None:
    assert engine.identify([Obs("enip.vendor_id", "1")], policy=policy).vendor_id == "rockwell"
    assert engine.identify([Obs("bacnet.vendor_id", "7")], policy=policy).vendor_id == "siemens"
    s7 = engine.identify([Obs("s7.module", "6ES7 214-1AG40-0XB0")], policy=policy)
    assert s7.vendor_id == "siemens" and s7.model == "6ES7 214-1AG40-0XB0"
    assert engine.identify([Obs("nmap.cpe", "cpe:/h:hikvision:ds-2cd2143g0-i")], policy=policy).flagged


def test_unknown_says_why(engine: Engine, policy: Policy) -> None:
    ident = engine.identify([Obs("mac", "02:11:22:33:44:55")], policy=policy)
    assert ident.vendor_id is None and not ident.flagged
    assert ident.unknown_reason is not None and "locally administered" in ident.unknown_reason
    ident = engine.identify([Obs("http.title", "Welcome to nginx!")], policy=policy)
    assert ident.vendor_id is None and ident.unknown_reason


def test_concurrent_identification_is_safe(engine: Engine, policy: Policy) -> None:
    """The collector may identify from several threads; the per-value cache must not break under them."""
    from concurrent.futures import ThreadPoolExecutor

    import fingerprints.engine as engine_mod

    values = [Obs("http.server", f"App-webs/ {i}") for i in range(3_000)]
    old = engine_mod.CACHE_SIZE
    engine_mod.CACHE_SIZE = 100  # force evictions while threads insert
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda o: engine.identify([o], policy=policy).vendor_id, values))
    finally:
        engine_mod.CACHE_SIZE = old
    assert set(results) == {"hikvision"}


def test_a_host_is_made_by_its_hardware_vendor_and_flagged_for_listed_software() -> None:
    # The real catalogue: the host's maker comes from DMI; installed packages are software components, and
    # software from a listed vendor flags the host with a reason that says so.
    import fingerprints

    packages = [Obs("host.package", "google-cloud-cli 528.0.0-0 Google Cloud CLI Package Builder"),
                Obs("host.package", "kesl 12.0.0.6672 Kaspersky Lab")]
    host = fingerprints.identify([Obs("host.hardware", "Dell Inc. PowerEdge R740"), *packages])
    assert host.vendor_id == "dell" and host.flagged
    assert any("runs software from Kaspersky" in r for r in host.flag_reasons)
    assert {(c.vendor_id, c.role, c.listed) for c in host.components} >= {("kaspersky", "software", True)}
    clean = fingerprints.identify([Obs("host.hardware", "Dell Inc. PowerEdge R740"), packages[0]])
    assert clean.vendor_id == "dell" and not clean.flagged and not clean.conflicts


def test_a_platform_os_never_names_the_device_maker() -> None:
    """Windows CE in an SSDP header is the OS of an industrial PC or HMI, whoever built it: it must not clear a
    listed-country maker that the MAC prefix names, nor turn a Taiwanese one into a US device (packaged data)."""
    from fingerprints.engine import default_engine
    from fingerprints.policy import default_policy

    engine, policy = default_engine(), default_policy()
    wince = Obs("upnp.server", "Microsoft-WinCE/6.00 UPnP/1.0")
    chinese = engine.identify([Obs("mac", "00:e0:fc:11:22:33"), wince], policy=policy)  # Huawei's MA-L
    assert chinese.vendor_id == "huawei" and chinese.flagged
    assert [(c.vendor_id, c.role) for c in chinese.components] == [("microsoft", "os")]
    taiwanese = engine.identify([Obs("mac", "00:d0:c9:11:22:33"), wince], policy=policy)  # Advantech's MA-L
    assert taiwanese.vendor_id == "advantech" and not taiwanese.flagged
    # alone, the OS is still named: it is what the evidence says
    assert engine.identify([wince], policy=policy).vendor_id == "microsoft"
    # the platform's own hardware (DMI) is hardware evidence and names it as the maker
    surface = engine.identify([Obs("host.hardware", "Microsoft Corporation Surface Pro 9")], policy=policy)
    assert surface.vendor_id == "microsoft"


def test_a_registrant_missing_from_the_catalogue_gets_its_ieee_country() -> None:
    """IANA's enterprise registry names organisations without a country; the IEEE registrations of the same
    organisation name carry one. A distinctive name joins (and says so); a short, common one does not."""
    from fingerprints.engine import default_engine
    from fingerprints.policy import default_policy

    engine, policy = default_engine(), default_policy()
    eastcom = engine.identify([Obs("snmp.sysobjectid", "1.3.6.1.4.1.5959.1.2")], policy=policy)
    assert eastcom.vendor == "Eastern Communications Co. Ltd." and eastcom.country == "CN" and eastcom.flagged
    assert eastcom.vendor_id is None and eastcom.weak
    assert "IEEE MAC registrations of the same name" in eastcom.evidence[0].conclusion
    # "ProSoft Technology" (US) shares its short name with a Russian IEEE registrant: no country from the join
    # (the catalogue now holds it, with its own US headquarters)
    prosoft = engine.identify([Obs("snmp.sysobjectid", "1.3.6.1.4.1.30722.1")], policy=policy)
    assert not prosoft.flagged and prosoft.country in (None, "US")
    assert not any("IEEE MAC registrations" in e.conclusion for e in prosoft.evidence)


def test_a_former_name_in_a_registry_resolves_to_todays_vendor_and_says_so() -> None:
    """Registries keep the names of companies since renamed or bought: PEN 42 is still 'Sun Microsystems'."""
    from fingerprints.engine import default_engine

    sun = default_engine().identify([Obs("snmp.sysobjectid", "1.3.6.1.4.1.42.2.1")])
    assert sun.vendor_id == "oracle"
    assert "a former name until 2010-01-27, acquired by Oracle" in sun.evidence[0].conclusion


def test_a_product_line_names_its_maker_in_the_role_it_speaks_for(engine: Engine, policy: Policy) -> None:
    """Product lines name their maker without its name (catalogue [[vendor.products]]): a hardware line names the
    device's maker; a network OS on another brand's device is a component — and a listed maker's OS flags."""
    optix = engine.identify([Obs("snmp.sysdescr", "OptiX OSN 1800 V100R010")], policy=policy)
    assert optix.vendor_id == "huawei" and optix.flagged
    assert "(product line)" in optix.evidence[0].conclusion
    rebadged = engine.identify([Obs("snmp.sysdescr", "Cisco Catalyst 9300"),
                                Obs("ssh.banner", "SSH-2.0-Versatile Routing Platform")], policy=policy)
    assert rebadged.vendor_id == "cisco"
    assert [(c.vendor_id, c.role, c.listed) for c in rebadged.components] == [("huawei", "os", True)]
    assert rebadged.flagged and any("runs an operating system from Huawei (CN" in r for r in rebadged.flag_reasons)


def test_a_registrant_known_nowhere_else_is_placed_by_a_city_in_its_name() -> None:
    """The last fallback for an enterprise number's registrant: a city or province of one listed country in the
    registered name ("Wuhan Yangtze Communications Industry Group"); never a country adjective."""
    from fingerprints.countries import country_of_place_in
    from fingerprints.engine import default_engine

    assert country_of_place_in("wuhan research institute of posts and telecommunications") == ("wuhan", "CN")
    assert country_of_place_in("south china morning post publishers") is None  # Hong Kong; "china" is no place
    assert country_of_place_in("moscow and beijing joint venture") is None  # two countries: no answer
    pen = next(n for n, name in default_engine().analyser().pens.items()
               if name.startswith("Wuhan Yangtze Communications Industry Group"))
    wuhan = default_engine().identify([Obs("snmp.sysobjectid", f"1.3.6.1.4.1.{pen}.1")])
    assert wuhan.country == "CN" and wuhan.flagged and wuhan.weak
    assert "inferred from the place name 'wuhan'" in wuhan.evidence[0].conclusion


def test_a_maker_whose_name_is_an_ordinary_word_is_named_where_a_description_names_its_maker() -> None:
    from fingerprints.engine import default_engine
    from fingerprints.policy import default_policy

    engine, policy = default_engine(), default_policy()
    # "Juniper" is an ordinary word (a tree): inside free text it names nobody, but a device description that begins
    # with it and goes on to a model number names the maker
    assert engine.identify([Obs("snmp.sysdescr", "Juniper SRX240H")], policy=policy).vendor_id == "juniper"
    assert engine.identify([Obs("snmp.sysdescr", "Brother NC-6400h, Firmware Ver.1.11")],
                           policy=policy).vendor_id == "brother"
    assert engine.identify([Obs("snmp.sysdescr", "Cambium PTP 50650 PTP Wireless Ethernet Bridge")],
                           policy=policy).vendor_id == "cambium"  # a model in capitals
    assert engine.identify([Obs("snmp.sysdescr", "Barracuda Firewall")], policy=policy).vendor_id == "barracuda"
    for text in ("Juniper", "Juniper berries and gin", "router in juniper 42 building", "Barracuda reef fish"):
        assert engine.identify([Obs("snmp.sysdescr", text)], policy=policy).vendor_id is None, text
    for text in ("Juniper", "Juniper berries and gin", "router in juniper 42 building", "Juniper SRX240H"):
        assert engine.identify([Obs("http.title", text)], policy=policy).vendor_id is None, text


def test_a_banner_that_begins_with_its_makers_name_names_it_after_the_reply_code() -> None:
    from fingerprints.aliases import LISTED_FOR_LEAD, alias_index, name_key
    from fingerprints.catalogue import load_catalogue
    from fingerprints.engine import default_engine
    from fingerprints.policy import default_policy

    engine, policy = default_engine(), default_policy()
    # an FTP server's greeting as printers and cameras write it: reply code, maker, model
    assert engine.identify([Obs("ftp.banner", "220 SHARP MX-6200N Ver 01.02.00 FTP server.")],
                           policy=policy).vendor_id == "sharp"  # "Sharp Corporation" without its legal form
    assert engine.identify([Obs("ftp.banner", "220 AXIS 216FD Network Fixed Dome Camera 4.40 ready.")],
                           policy=policy).vendor_id == "axis"
    # the protocol's name is not a model: a maker followed only by "FTP" stays an ordinary word
    assert engine.identify([Obs("ftp.banner", "220 Sharp FTP server ready")], policy=policy).vendor_id is None
    for text in ("220 Axis of evil ready", "220 sharp words 12"):
        assert engine.identify([Obs("ftp.banner", text)], policy=policy).vendor_id is None, text
    # a name derived by dropping the legal form is a guess: never one of a listed-country vendor (that flags)
    cat = load_catalogue()
    index = alias_index(cat)
    for key, vid in index.lead.items():
        vendor, owner = cat.vendors[vid], cat.vendors[vid].owner_at()
        if key not in index.whole:
            assert vendor.hq.country not in LISTED_FOR_LEAD, (key, vid)
            assert owner is None or owner.country not in LISTED_FOR_LEAD, (key, vid)
            assert key in {name_key(vendor.short), name_key(vendor.name)}, (key, vid)


def test_a_product_line_outweighs_a_company_name_in_the_same_description() -> None:
    from fingerprints.engine import default_engine
    from fingerprints.policy import default_policy

    engine, policy = default_engine(), default_policy()
    # the legal name "Hewlett-Packard Company" is HP Inc.'s; ProCurve switches are HPE's since the 2015 split
    ident = engine.identify([Obs("snmp.sysdescr", "Hewlett-Packard Company J4139A HP ProCurve Routing Switch 9304M, "
                                                  "Software Version 08.0.01kT53")], policy=policy)
    assert ident.vendor_id == "hpe"
    assert [c.vendor_id for c in ident.conflicts] == ["hp"]


def test_a_predecessor_company_resolves_to_the_line_s_owner_today() -> None:
    from fingerprints.engine import default_engine
    from fingerprints.policy import default_policy

    engine, policy = default_engine(), default_policy()
    cases = {
        "Redback Networks SmartEdge OS Version SEOS-6.5.1.5-Release": "ericsson",
        "Netopia 3347NWG-ENT v8.5": "commscope",
        "SunOS sysname 5.10 Generic_118833-33 sun4u": "oracle",
        "Symbol AP5131 HW=C SW=2.3.3.0-006R MIB=01g13": "zebra",
        "Samsung CLP-310 Series; V1.00.01.18.X Jul-28-2008": "hp",
        "SAVIN SP C400DN 1.01 / SAVIN Network Printer C model": "ricoh",
    }
    for text, vendor in cases.items():
        assert engine.identify([Obs("snmp.sysdescr", text)], policy=policy).vendor_id == vendor, text
    # a Samsung device that is not one of the printer lines HP bought stays Samsung's
    assert engine.identify([Obs("snmp.sysdescr", "Samsung Galaxy Tab S9")], policy=policy).vendor_id == "samsung"


def test_an_os_nmap_infers_is_the_hosts_platform_not_the_maker_of_the_program_that_answered() -> None:
    from fingerprints.engine import default_engine

    # nmap's Serv-U match carries cpe:/o:microsoft:windows; the banner names Serv-U only. SolarWinds made the
    # program that answered; Windows is the host's OS, kept as a component
    ident = default_engine().identify([Obs("ftp.banner", "220 Serv-U FTP Server v15.1 ready...")])
    assert ident.vendor_id == "solarwinds"
    assert [(c.vendor_id, c.role) for c in ident.components] == [("microsoft", "os")]
    assert {e.vendor_id: e.role for e in ident.evidence}["microsoft"] == "platform"


def test_a_rule_reads_an_enterprise_number_the_registry_never_assigned() -> None:
    from fingerprints.engine import default_engine

    # Dahua's MIB sits under 1.3.6.1.4.1.1004849, a number IANA has not assigned: the registry knows nothing,
    # the curated rule does
    ident = default_engine().identify([Obs("snmp.sysobjectid", "1.3.6.1.4.1.1004849.3.2.10")])
    assert ident.vendor_id == "dahua" and ident.flagged and ident.unknown_reason is None
    unknown = default_engine().identify([Obs("snmp.sysobjectid", "1.3.6.1.4.1.1004850.1")])
    assert unknown.vendor_id is None and "enterprise number 1004850 is unknown" in (unknown.unknown_reason or "")


def test_a_profinet_vendor_id_names_the_maker_and_a_malformed_or_unknown_one_says_why() -> None:
    from fingerprints.engine import default_engine

    engine = default_engine()
    ident = engine.identify([Obs("profinet.vendor_id", "0x002a:0x0313"), Obs("profinet.device", "ET200SP")])
    assert ident.vendor_id == "siemens" and not ident.flagged
    assert any(e.rule_id == "profinet.catalogue" for e in ident.evidence)
    assert engine.identify([Obs("profinet.vendor_id", "0x002A")]).vendor_id == "siemens"  # vendor id alone
    unknown = engine.identify([Obs("profinet.vendor_id", "0xfff0:0x0001")])
    assert unknown.vendor_id is None and "vendor id 0xfff0 is not in the catalogue" in (unknown.unknown_reason or "")
    junk = engine.identify([Obs("profinet.vendor_id", "Siemens S7")])
    assert junk.vendor_id is None and "is not a PROFINET VendorID:DeviceID pair" in (junk.unknown_reason or "")


def test_the_shipped_policy_says_how_hong_kong_and_macau_are_treated() -> None:
    import pytest

    from fingerprints.policy import Policy, default_policy

    policy = default_policy()
    assert "HK" not in policy.countries and "MO" not in policy.countries
    assert {"HK", "MO"} <= set(policy.territories) and all("owner" in policy.territories[c] for c in ("HK", "MO"))
    with pytest.raises(ValueError, match="territories: not ISO 3166-1"):
        Policy(version="x", countries=["CN"], territories={"XX": "?"})
