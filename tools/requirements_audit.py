"""Writes docs/requirements-audit.md from the catalog, the scenarios, the
check registries, the faults and the variants. Run from anywhere:
`python3 tools/requirements_audit.py`; harness/tests/requirements_audit.rs
checks the result still names every black-box requirement."""
import re, tomllib, glob, os, collections
root=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
cat=open(f'{root}/docs/leasequery-requirements.md').read()
reqs=collections.OrderedDict()
for line in cat.splitlines():
    if not line.startswith('| '): continue
    c=[x.strip() for x in line.strip().strip('|').split('|')]
    if not re.match(r'^(ALQ-S|ALQ-R|BLQ-S|BLQ-R|LQ-S|WIRE)-\d+$', c[0]): continue
    rid=c[0]
    if rid.startswith('WIRE-'):
        reqs[rid]=dict(ref=c[1],level=c[2],text=c[3],test=c[3],cls='F')
    else:
        reqs[rid]=dict(ref=c[1],level=c[2],text=c[3],test=c[4],cls=c[5])
bb=[r for r,v in reqs.items() if 'D' not in v['cls']]
# scenarios
scen={}
for p in sorted(glob.glob(f'{root}/scenarios/*/*.toml')):
    d=tomllib.load(open(p,'rb'))
    scen[d['id']]=d
# which steps judge a requirement
def step_reqs(step):
    for k,v in step.items():
        if isinstance(v,dict) and 'requirement' in v:
            r=v['requirement']
            yield k, (r if isinstance(r,list) else [r])
judges=collections.defaultdict(list)
covers=collections.defaultdict(list)
for sid,d in scen.items():
    first=d['covers'][0]
    for r in d['covers']: covers[r].append(sid)
    for step in d.get('step',[]):
        kind=next(iter(step))
        v=step[kind]
        if kind == 'send' and isinstance(v, dict) and 'trickle' in v:
            kind, v = 'send (trickle)', v['trickle']
        elif kind in ('send','wait','close','trigger','connect','pause-reading','resume-reading','stop-target','answer-bulk','inconclusive-if','capture','repeat'):
            continue
        rs=v.get('requirement') if isinstance(v,dict) else None
        rs=(rs if isinstance(rs,list) else [rs]) if rs else [first]
        for r in rs:
            if kind not in [k for k,_ in judges[(r,sid)]]:
                judges[(r,sid)].append((kind,None))
# message checks
checks=collections.defaultdict(list)
for p in glob.glob(f'{root}/harness/src/checks/*.rs'):
    fam=os.path.basename(p)[:-3]
    for m in re.finditer(r'^\s+(\w+): "([A-Z]+-[A-Z]*-?\d+)", (\w+), "?([^";]*)"?;', open(p).read(), re.M):
        checks[m.group(2)].append((fam, m.group(1), m.group(4)))
consts={'BINDING':'binding replies','UNASSIGNED':'every DHCPLEASEUNASSIGNED','EVERY':'every message'}
for k in checks:
    checks[k]=[(f,n,consts.get(a,a)) for f,n,a in checks[k]]
checks['BLQ-S-01'].append(('stream','FRAMING','the byte stream of every connection: prefix and message boundaries'))
checks['BLQ-S-38'].append(('stream','GRACEFUL_CLOSE','how the server closes: FIN, not RST'))
# faults
faults=collections.defaultdict(list)
for m in re.finditer(r'^\s+\w+ => "([a-z0-9-]+)", (\w+), \[([^\]]*)\];', open(f'{root}/harness/src/reference/faults.rs').read(), re.M):
    for r in re.findall(r'"([^"]+)"', m.group(3)): faults[r].append(m.group(1))
variants=[]
for m in re.finditer(r'^\s+\w+ => "([a-z0-9.-]+)", (\w+), "([^"]*)",', open(f'{root}/harness/src/reference/variants.rs').read(), re.M):
    variants.append((m.group(1),m.group(2),m.group(3)))
def fail_clause(t):
    m=re.search(r'(Fail[^.]*?:.*?)(?:$|(?<=\.)\s)', t)
    if 'Fail' in t:
        i=t.index('Fail')
        return t[i:].strip()
    for w in ('Warn','warn'):
        if w in t:
            i=t.index(w); return t[i:].strip()
    return '(no Fail clause) '+t
side=lambda r: 'Server' if re.match(r'(ALQ-S|BLQ-S|LQ-S)',r) else ('Requestor' if re.match(r'(ALQ-R|BLQ-R)',r) else 'Both')
def variant_cell(r):
    named=[v for v,s,b in variants if r in b]
    sd=side(r)
    n=sum(1 for v,s,b in variants if s in (sd,'Both') or sd=='Both')
    others=f"clean under each of the {n} variants of that side where it applies"
    return (', '.join(f'`{v}`' for v in named)+'; ' if named else '')+others
nowhy={
 'ALQ-S-32':"No scenario. Needs a reservation added while an active query runs; no trigger or profile control command can add one to an arbitrary server, so a black-box run cannot make the situation. A profile `control` command for reservations would make it testable.",
 'ALQ-S-35':"No scenario. Needs DHCPACK latency with the active socket blocked against latency with no active connection; the relay trigger does not time its exchanges, and on a shared host the comparison is noise below a few milliseconds. Left to a later measurement step.",
 'BLQ-S-02':"No scenario. Port 67 is privileged; the harness tests what the profile's `address` says and never binds port 67 itself. A profile pointing at port 67 passes every other scenario there, which is the evidence; the default cannot be observed without the vendor's default configuration.",
 'BLQ-S-28':"No scenario. Needs a server configured with VSS (VPN) pools and leases made inside a VPN; the relay trigger sends no VSS information, so no reply about a non-default VPN can be produced black-box.",
}
out=[]
out.append("# Requirements audit\n")
out.append("""Every black-box requirement of the catalog (docs/leasequery-requirements.md,
§4, classes other than D), with the catalog's "Fail:" clause, what in the
harness judges it, the deliberate defect of the reference that proves the
judge fires (`alq-harness faults`), and the conformant variants that prove it
does not fire on a legitimate choice (`alq-harness variants`).

- **Judged by** lists the scenarios whose steps name the requirement (or
  judge it as their first covered one), with the step kinds, and the
  per-message checks (`checks/wire.rs`, `reply.rs`, `request.rs`,
  `stream.rs`) that judge it on every message they apply to.
- **Variants**: every variant of the side the requirement binds runs every
  scenario that applies with no failure, warning or error
  (`harness/tests/variants.rs`); those named are the ones whose choice the
  requirement is about.
- A requirement with no fault is judged, but no defect of the reference
  breaks it yet; those are listed at the end.

""")
missing_fault=[]
counts=collections.Counter()
for sec,prefix in [("RFC 7724, server","ALQ-S"),("RFC 7724, requestor","ALQ-R"),("RFC 6926, server","BLQ-S"),("RFC 6926, requestor","BLQ-R"),("RFC 4388 reply construction","LQ-S"),("Wire checks, both roles","WIRE")]:
    ids=[r for r in bb if r.startswith(prefix+'-')]
    out.append(f"## {sec}\n")
    out.append("| Requirement | Level | Catalog fail clause | Judged by | Fault | Variants |")
    out.append("|---|---|---|---|---|---|")
    for r in ids:
        v=reqs[r]
        j=[]
        for (rr,sid),ks in sorted(judges.items()):
            if rr==r: j.append(f"`{sid}` ({', '.join(k for k,_ in ks)})")
        for fam,fn,ap in checks.get(r,[]):
            j.append(f"check `{fam}::{fn}` ({ap})")
        if not j and r in covers:
            j.append('covered by '+', '.join(f'`{s}`' for s in covers[r]))
        if r in nowhy:
            j=[nowhy[r]]
        fl=', '.join(f'`{f}`' for f in faults.get(r,[])) or '—'
        if r not in faults and r not in nowhy: missing_fault.append(r)
        fc=fail_clause(v['test']).replace('|','\\|')
        out.append(f"| {r} | {v['level']} | {fc} | {'; '.join(j) or '—'} | {fl} | {variant_cell(r) if r not in nowhy else '—'} |")
        counts['rows']+=1
    out.append("")
out.append(f"## Judged, with no fault yet\n")
out.append(', '.join(missing_fault)+"\n")
open(f'{root}/docs/requirements-audit.md','w').write('\n'.join(out))
print(f"{counts['rows']} rows, {len(missing_fault)} without a fault")
unjudged=[r for r in bb if not any(rr==r for (rr,_) in judges) and r not in checks and r not in nowhy]
if unjudged:
    raise SystemExit(f"judged by nothing: {', '.join(unjudged)}")
