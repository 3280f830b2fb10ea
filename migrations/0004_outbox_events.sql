CREATE TABLE "outbox_events" (
	"sequence" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"client_id" text NOT NULL,
	"command_id" text NOT NULL,
	"position" integer NOT NULL,
	"type" text NOT NULL,
	"entity_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp (3) with time zone,
	CONSTRAINT "outbox_events_id_key" UNIQUE("id")
);
--> statement-breakpoint
CREATE INDEX "outbox_events_unsent_entity_idx" ON "outbox_events" USING btree ("entity_id","sequence") WHERE "outbox_events"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_events_unsent_idx" ON "outbox_events" USING btree ("sequence") WHERE "outbox_events"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_events_sent_idx" ON "outbox_events" USING btree ("sent_at") WHERE "outbox_events"."sent_at" is not null;