CREATE SCHEMA "oncely";
--> statement-breakpoint
CREATE TABLE "oncely"."commands" (
	"client_id" text NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"entity_id" text NOT NULL,
	"expected_version" integer,
	"payload" jsonb NOT NULL,
	"fingerprint" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"result" jsonb,
	"error" jsonb,
	"submitted_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp (3) with time zone,
	"trace_parent" text,
	CONSTRAINT "commands_client_id_id_pk" PRIMARY KEY("client_id","id"),
	CONSTRAINT "commands_status_check" CHECK ("oncely"."commands"."status" in ('queued', 'retrying', 'succeeded', 'rejected', 'conflict', 'dead'))
);
--> statement-breakpoint
CREATE TABLE "oncely"."outbox_events" (
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
CREATE INDEX "commands_dead_letters_idx" ON "oncely"."commands" USING btree ("client_id","completed_at","id") WHERE "oncely"."commands"."status" = 'dead';--> statement-breakpoint
CREATE INDEX "commands_in_flight_idx" ON "oncely"."commands" USING btree ("submitted_at") WHERE "oncely"."commands"."status" in ('queued', 'retrying');--> statement-breakpoint
CREATE INDEX "outbox_events_unsent_entity_idx" ON "oncely"."outbox_events" USING btree ("entity_id","sequence") WHERE "oncely"."outbox_events"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_events_unsent_idx" ON "oncely"."outbox_events" USING btree ("sequence") WHERE "oncely"."outbox_events"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_events_sent_idx" ON "oncely"."outbox_events" USING btree ("sent_at") WHERE "oncely"."outbox_events"."sent_at" is not null;