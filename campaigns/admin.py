"""Admin for messages, their variants, and the outbox."""

from django.contrib import admin

from campaigns.models import Delivery, Message, Variant


class VariantInline(admin.StackedInline):
    model = Variant
    extra = 1
    fields = ("key", "weight", "subject", "preheader", "html_body", "text_body")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "topic", "updated_at")
    search_fields = ("key", "name")
    prepopulated_fields = {"key": ("name",)}
    inlines = (VariantInline,)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "message",
        "variant",
        "status",
        "journey_key",
        "step_key",
        "queued_at",
        "sent_at",
        "opened_at",
        "clicked_at",
        "unsubscribed_at",
    )
    list_filter = ("status", "message", "journey_key")
    date_hierarchy = "queued_at"
    search_fields = ("customer__email",)
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "message", "variant")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
