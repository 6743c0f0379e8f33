#!/usr/bin/env node
/**
 * Writes train.csv and validation.csv for the click/conversion example (run.json): synthetic
 * impressions with high-cardinality ids, seeded, so every run writes the same files.
 *
 *   node examples/click-conversion/make-data.mjs [--rows 50000] [--seed 1]
 *
 * Columns: user_id (2,000 users), item_id (1,000 items), category (60), device (3), hour (0-23),
 * price, user_age; labels click (0/1) and conversion (0/1, EMPTY where click is 0: a conversion
 * is only observed after a click, so those rows are masked for that task, as in ESMM/MMoE's
 * click-through and conversion setting). Each user and item has a hidden 4-d taste vector; the
 * click's log-odds is their match plus category, device and hour effects; the conversion's
 * (given a click) is the same match, a price effect and a per-user propensity. 80 % of the rows
 * go to train.csv, the rest to validation.csv.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '50000' }, seed: { type: 'string', default: '1' } } });
const rows = Number(values.rows);

// mulberry32: a small seeded generator, so the files are the same on every machine.
let state = Number(values.seed) >>> 0;
const uniform = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
const int = (n) => Math.floor(uniform() * n);
const vector = () => Array.from({ length: 4 }, normal);
const sigmoid = (z) => 1 / (1 + Math.exp(-z));
// A skewed pick (a few popular ids, a long tail), as ids are in click logs.
const popular = (n) => Math.floor(n * uniform() ** 2);

const USERS = 2000;
const ITEMS = 1000;
const CATEGORIES = 60;
const DEVICES = ['mobile', 'desktop', 'tablet'];
const users = Array.from({ length: USERS }, () => ({ taste: vector(), buys: 0.8 * normal(), age: 18 + int(50) }));
const items = Array.from({ length: ITEMS }, () => ({ taste: vector(), category: int(CATEGORIES), price: Math.exp(2 + 0.8 * normal()) }));
const categoryBias = Array.from({ length: CATEGORIES }, () => 0.7 * normal());
const deviceBias = [0.3, 0, -0.2];

const lines = ['user_id,item_id,category,device,hour,price,user_age,click,conversion'];
for (let r = 0; r < rows; r++) {
  const u = popular(USERS);
  const i = popular(ITEMS);
  const d = int(DEVICES.length);
  const hour = int(24);
  const user = users[u];
  const item = items[i];
  const match = user.taste.reduce((s, v, k) => s + v * item.taste[k], 0) / 2;
  const click = uniform() < sigmoid(-1.2 + match + categoryBias[item.category] + deviceBias[d] + 0.4 * Math.sin((2 * Math.PI * hour) / 24)) ? 1 : 0;
  const conversion = click ? (uniform() < sigmoid(-0.5 + 0.8 * match - 0.6 * (Math.log(item.price) - 2) + user.buys) ? '1' : '0') : '';
  lines.push(`u${u},i${i},c${item.category},${DEVICES[d]},${hour},${item.price.toFixed(2)},${user.age},${click},${conversion}`);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const cut = 1 + Math.round(rows * 0.8);
fs.writeFileSync(path.join(here, 'train.csv'), lines.slice(0, cut).join('\n') + '\n');
fs.writeFileSync(path.join(here, 'validation.csv'), [lines[0], ...lines.slice(cut)].join('\n') + '\n');
console.log(`wrote ${cut - 1} rows to ${path.join(here, 'train.csv')} and ${rows - cut + 1} to ${path.join(here, 'validation.csv')}`);
