import core from "./00001_core.js"
import feeds from "./00010_feeds.js"
import llm from "./00020_llm.js"
import outboxDelivery from "./00040_outbox_delivery.js"
import outcomes from "./00050_outcomes.js"
import deliveryRetries from "./00060_delivery_retries.js"
import outboxSource from "./00061_outbox_source.js"
import outboxEdits from "./00070_outbox_edits.js"
import secTickerExchange from "./00072_sec_ticker_exchange.js"
import outboxTrace from "./00073_outbox_trace.js"
import companySize from "./00090_company_size.js"
import insiderPurchases from "./00091_insider_purchases.js"
import outboxTickerCreated from "./00110_outbox_ticker_created.js"
import outboxRoute from "./00120_outbox_route.js"
import dashboardSearch from "./00130_dashboard_search.js"
import clusterOwners from "./00190_cluster_owners.js"

export const migrations = {
  "00001_core": core,
  "00010_feeds": feeds,
  "00020_llm": llm,
  "00040_outbox_delivery": outboxDelivery,
  "00050_outcomes": outcomes,
  "00060_delivery_retries": deliveryRetries,
  "00061_outbox_source": outboxSource,
  "00070_outbox_edits": outboxEdits,
  "00072_sec_ticker_exchange": secTickerExchange,
  "00073_outbox_trace": outboxTrace,
  "00090_company_size": companySize,
  "00091_insider_purchases": insiderPurchases,
  "00110_outbox_ticker_created": outboxTickerCreated,
  "00120_outbox_route": outboxRoute,
  "00130_dashboard_search": dashboardSearch,
  "00190_cluster_owners": clusterOwners
}
