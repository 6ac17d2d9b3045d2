// The partnership's organisations (id and name), written by the web build from
// infra/partnership.yaml, so the public request-access page needs no API call.
let loaded;

export async function organisations() {
  if (!loaded) loaded = fetch("dist/organisations.json").then((r) => r.json()).then((d) => d.organisations);
  return loaded;
}

export async function organisationName(id) {
  const found = (await organisations()).find((o) => o.id === id);
  return found ? found.name : id;
}
