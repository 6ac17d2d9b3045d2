// The web build: GOV.UK Frontend's Sass compiled with Arial (no GOV.UK font, no crown, no logo),
// and the browser code MAST uses from npm copied beside it into web/dist/ (gitignored).
// Run by bin/_env.sh whenever package-lock.json or this build's inputs change: `npm run build`.
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const dist = join(web, "dist");
const modules = join(root, "node_modules");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const css = sass.compile(join(web, "src", "mast.scss"), {
  loadPaths: [modules],
  style: "compressed",
  quietDeps: true,
  silenceDeprecations: ["import", "global-builtin"],
});
// The footer's crest rule stays in the CSS but no MAST page uses its class, so it is never fetched
// (the browser tests fail on any failed request). The font must not even be named.
if (/GDS Transport|\.woff2?/i.test(css.css)) {
  throw new Error("the stylesheet refers to the GOV.UK font; MAST is not a GOV.UK service");
}
await writeFile(join(dist, "mast.css"), css.css);

const copies = {
  "govuk-frontend.min.js": join(modules, "govuk-frontend", "dist", "govuk", "govuk-frontend.min.js"),
  "qrcode.mjs": join(modules, "qrcode-generator", "dist", "qrcode.mjs"),
};
for (const [name, source] of Object.entries(copies)) {
  await copyFile(source, join(dist, name));
}
console.log(`web build: ${Object.keys(copies).length + 1} files in ${dist}`);
