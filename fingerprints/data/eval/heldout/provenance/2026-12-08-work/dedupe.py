import json,glob,collections
# read existing eval files ONLY to compare keys; never print their rows
keys=set()
for p in glob.glob("/work/main/fingerprints/data/eval/**/*.jsonl",recursive=True):
    for l in open(p,encoding="utf-8"):
        l=l.strip()
        if not l: continue
        try: r=json.loads(l)
        except Exception: continue
        if "observations" in r:
            keys.add(("dev",frozenset((o.get("kind"),str(o.get("value")).strip()) for o in r["observations"])))
        elif "kind" in r:
            keys.add((r.get("kind"),str(r.get("value")).strip()))
tot=collections.Counter(); dropped=collections.Counter()
out={}
for f in ["banners","discovery"]:
    kept=[]
    for l in open(f"raw-{f}.jsonl",encoding="utf-8"):
        r=json.loads(l)
        k=("dev",frozenset((o["kind"],o["value"]) for o in r["observations"])) if "observations" in r else (r["kind"],r["value"])
        tot[f]+=1
        if k in keys: dropped[f]+=1; continue
        kept.append(r)
    with open(f"/tmp/heldout6/2026-12-08-{f}.jsonl","w",encoding="utf-8") as fh:
        for r in kept: fh.write(json.dumps(r,ensure_ascii=False)+"\n")
    out[f]=kept
print("total",dict(tot),"dropped",dict(dropped))
c=collections.Counter(); cf=collections.Counter()
for f,rs in out.items():
    for r in rs:
        k=r.get("kind","device (several observations)"); c[k]+=1; cf[k]+=r["flag"]
for k in c: print(k,c[k],cf[k])
print("ALL",sum(c.values()),sum(cf.values()))
fl=collections.Counter(r["vendor_name"] for rs in out.values() for r in rs if r["flag"])
print(fl.most_common())
