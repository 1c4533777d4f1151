"""Makes variants.pdb, a test input for the PDB reader: hp35.pdb and ala2.pdb
from the shared data, rewritten to use alternate residue and atom names
(HID, ASH, GLH, CYX, WAT, HN, 1HB, OT1, HW1 ...), an atom whose canonical
name repeats another's, alternate locations,
an insertion code, chain breaks by TER and by chain ID, atoms without element
columns, disulfides, waters, ions and two models. Its expected bonds are not
stored: the test compares gobg with OpenMM reading the same file.

usage: python gen_variants.py hp35.pdb ala2.pdb > variants.pdb
"""
import math
import sys


def field(line, a, b):
    return line[a:b]


def atom_line(rec, serial, name, alt, res, chain, seq, icode, x, y, z, elem):
    if len(name) < 4:
        name = ' ' + name
    return '%-6s%5d %-4s%1s%3s %1s%4d%1s   %8.3f%8.3f%8.3f  1.00  0.00          %2s  ' % (
        rec, serial, name, alt, res, chain, seq, icode, x, y, z, elem)


def parse(path):
    atoms = []
    for line in open(path):
        if line.startswith(('ATOM', 'HETATM')):
            atoms.append(dict(rec=line[:6].strip(), name=line[12:16].strip(), res=line[17:20].strip(),
                              seq=int(line[22:26]), x=float(line[30:38]), y=float(line[38:46]),
                              z=float(line[46:54]), elem=line[76:78].strip(), alt=' ', icode=' ', chain='A'))
    return atoms


hp35 = parse(sys.argv[1])
ala2 = parse(sys.argv[2])
out = []  # list of (atom dict) or 'TER'

rename_res = {3: 'ASH', 4: 'GLH', 27: 'HID'}
rename_atom = {
    (1, 'H'): 'H1',                       # charged N terminus as H1/H2/H3
    (2, 'H'): 'HN', (2, 'HB2'): '2HB', (2, 'HB3'): '1HB', (2, 'HG'): 'HG1',
    (27, 'HD2'): 'HD', (27, 'HE1'): 'HE', (27, 'H'): 'HN',
    (35, 'O'): 'OT1', (35, 'OXT'): 'OT2',
    (16, 'HB1'): '1HB', (16, 'HB2'): '2HB', (16, 'HB3'): '3HB',
}
for a in hp35:
    a = dict(a)
    seq = a['seq']
    a['name'] = rename_atom.get((seq, a['name']), a['name'])
    a['res'] = rename_res.get(seq, a['res'])
    if seq == 6:                          # PHE 6 becomes 5A: an insertion code
        a['seq'], a['icode'] = 5, 'A'
    if seq == 12:                         # MET 12: no element columns
        a['elem'] = ''
    if seq >= 27:                         # chain B by a change of chain ID
        a['chain'] = 'B'
    if seq == 7 and a['name'] not in ('N', 'H', 'CA', 'HA', 'C', 'O'):
        # LYS 7 side chain in two locations; for NZ the B location comes first.
        b = dict(a, alt='B', x=a['x'] + 0.5)
        a['alt'] = 'A'
        out.extend([b, a] if a['name'] == 'NZ' else [a, b])
        continue
    out.append(a)
    if seq == 13 and a['name'] == 'H':
        # Both H and HN in THR 13: two atoms with the canonical name H. As in
        # OpenMM, the last one gets the N-H bond.
        out.append(dict(a, name='HN', x=a['x'] + 0.3))
    if seq == 17 and a['name'] == 'O':
        out.append('TER')                 # chain break with the same chain ID

out.append('TER')

# Chain C: cysteines (backbone and side chain heavy atoms only; geometry is
# irrelevant except for SG-SG distances). CYX 1/2 form a disulfide (2.05 A),
# CYX 3 is within 3 A of both but both are taken, CYS 4 has HG (a thiol, not
# bonded), CYX 5 is alone.
cys = [('N', 0.155, 0.347, 1.678), ('CA', -0.145, 0.107, 0.268), ('CB', 1.135, 0.017, -0.562),
       ('SG', 1.895, 1.667, -0.722), ('C', -1.045, -1.123, 0.048), ('O', -1.995, -1.013, -0.712)]
sg = (1.895, 1.667, -0.722)
targets = [('CYX', (20.0, 20.0, 20.0)), ('CYX', (22.05, 20.0, 20.0)), ('CYX', (21.0, 22.2, 20.0)),
           ('CYS', (21.0, 17.8, 20.0)), ('CYX', (30.0, 30.0, 30.0))]
for k, (res, t) in enumerate(targets):
    for name, x, y, z in cys:
        out.append(dict(rec='ATOM', name=name, res=res, seq=k + 1, x=x - sg[0] + t[0], y=y - sg[1] + t[1],
                        z=z - sg[2] + t[2], elem=name[0], alt=' ', icode=' ', chain='C'))
    if res == 'CYS':
        out.append(dict(rec='ATOM', name='HG', res=res, seq=k + 1, x=t[0] + 1.3, y=t[1], z=t[2],
                        elem='H', alt=' ', icode=' ', chain='C'))
out.append('TER')

# Chain D: ACE-ALA-NME with CHARMM-style cap names, no CONECT records.
ala_names = {('ACE', 'CH3'): 'CAY', ('ACE', 'H1'): 'HY1', ('ACE', 'H2'): 'HY2', ('ACE', 'H3'): 'HY3',
             ('ACE', 'C'): 'CY', ('ACE', 'O'): 'OY', ('ALA', 'H'): 'HN',
             ('NME', 'C'): 'CAT', ('NME', 'H'): 'HNT', ('NME', 'H1'): 'HT1', ('NME', 'H2'): 'HT2',
             ('NME', 'H3'): 'HT3', ('NME', 'N'): 'NT'}
for a in ala2:
    a = dict(a, chain='D', x=a['x'] + 10)
    a['name'] = ala_names.get((a['res'], a['name']), a['name'])
    out.append(a)
out.append('TER')

# Chain W: waters (HOH and WAT with TIP3P-style names, the latter without
# element columns) and ions named without element columns.
w = 0
for k, (res, names) in enumerate([('HOH', ('O', 'H1', 'H2')), ('WAT', ('OW', 'HW1', 'HW2')),
                                  ('HOH', ('O', 'H1', 'H2'))]):
    o = (5.0 + 4 * k, 30.0, 30.0)
    pos = [o, (o[0] + 0.9572, o[1], o[2]),
           (o[0] + 0.9572 * math.cos(math.radians(104.52)), o[1] + 0.9572 * math.sin(math.radians(104.52)), o[2])]
    for name, p in zip(names, pos):
        out.append(dict(rec='HETATM', name=name, res=res, seq=k + 1, x=p[0], y=p[1], z=p[2],
                        elem='' if res == 'WAT' else name[0], alt=' ', icode=' ', chain='W'))
for k, (res, name) in enumerate([('NA', 'NA'), ('CL', 'CL'), ('CA', 'CA'), ('K', 'K'), ('ZN', 'ZN')]):
    out.append(dict(rec='HETATM', name=name, res=res, seq=10 + k, x=40.0 + 5 * k, y=5.0, z=5.0,
                    elem='', alt=' ', icode=' ', chain='W'))
out.append('TER')

print('REMARK   1 TEST INPUT MADE BY gen_variants.py')
print('CRYST1   50.000   50.000   50.000 109.47 109.47 109.47 P 1           1 ')
for model in (1, 2):
    print('MODEL     %4d' % model)
    serial = 1
    for a in out:
        if a == 'TER':
            print('TER   %5d' % serial)
            serial += 1
            continue
        d = 0.0 if model == 1 else 0.1
        print(atom_line(a['rec'], serial, a['name'], a['alt'], a['res'], a['chain'], a['seq'], a['icode'],
                        a['x'] + d, a['y'] - d, a['z'], a['elem']))
        serial += 1
    print('ENDMDL')
print('END')
