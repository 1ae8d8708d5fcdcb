// One step of the checkout benchmark: open-loop checkouts at a constant arrival rate.
// Run by bench/checkout.py (one k6 process per rate); not meant to be run by hand.
//   STOREFRONT  base URL        RATE     checkouts per second   SECONDS  step length
//   SKUS        JSON list       STEP     step name (keys)       SUMMARY  where to write JSON
import http from "k6/http";
import exec from "k6/execution";

const BASE = __ENV.STOREFRONT;
const RATE = parseInt(__ENV.RATE, 10);
const SKUS = JSON.parse(__ENV.SKUS);

export const options = {
  scenarios: {
    checkout: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: `${__ENV.SECONDS}s`,
      // Arrivals do not wait for answers; a VU is taken per request in flight.
      preAllocatedVUs: Math.max(20, RATE),
      maxVUs: Math.max(100, RATE * 4),
      gracefulStop: "10s",
    },
  },
  summaryTrendStats: ["avg", "p(50)", "p(95)", "p(99)", "max"],
};

export default function () {
  const i = exec.scenario.iterationInTest;
  const res = http.post(
    `${BASE}/api/checkout`,
    JSON.stringify({
      customer_email: "bench@example.com",
      payment_token: "tok_visa",
      items: [{ sku: SKUS[i % SKUS.length], quantity: 1 }],
    }),
    {
      headers: {
        "Content-Type": "application/json",
        "Idempotency-Key": `bench-${__ENV.STEP}-${i}`,
      },
      timeout: "10s",
    },
  );
  if (res.status === 201) {
    console.log(`order ${res.json("order_id")}`); // collected for the completion latency
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
