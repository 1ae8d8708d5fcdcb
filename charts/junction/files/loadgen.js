// The in-cluster load generator: the checkout scenario `make bench` runs (checkout.js, the
// same file), with its products seeded first so that stock never runs out mid-run.
//   INVENTORY  inventory's base URL     STOCK  units per product, seeded or restocked
import http from "k6/http";

export { options, handleSummary } from "./checkout.js";
import checkout from "./checkout.js";

export function setup() {
  for (const sku of JSON.parse(__ENV.SKUS)) {
    const headers = { headers: { "Content-Type": "application/json" } };
    const product = { name: `Load ${sku}`, price_cents: 100, stock: parseInt(__ENV.STOCK, 10) };
    const put = http.put(`${__ENV.INVENTORY}/products/${sku}`, JSON.stringify(product), headers);
    if (put.status !== 201) {
      const restock = JSON.stringify({ quantity: parseInt(__ENV.STOCK, 10) });
      const res = http.post(`${__ENV.INVENTORY}/products/${sku}/restock`, restock, headers);
      if (res.status !== 200) {
        throw new Error(`seeding ${sku}: ${put.status}, restock ${res.status} ${res.body}`);
      }
    }
  }
}

export default function () {
  checkout();
}
