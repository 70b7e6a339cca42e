"""Admin for customers, the loyalty ladder, consent topics, suppressions and API keys."""

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from config import clock
from customers.models import (
    ApiKey,
    ChurnEstimate,
    ConsentRecord,
    ConsentStatus,
    Customer,
    Event,
    LadderRule,
    Stage,
    StageChange,
    Suppression,
    SuppressionReason,
    Topic,
)
from customers.services.api_keys import api_key_create
from customers.services.stage import stage_set
from customers.services.suppression import suppression_add
from customers.validation import normalize_email

#: Inlines show the newest rows only; a customer may have thousands of events.
INLINE_ROWS = 50


class NewestRowsFormSet(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet:
        return super().get_queryset()[:INLINE_ROWS]


class ReadOnlyInline(admin.TabularInline):
    """History is evidence: shown, never edited or deleted from the admin."""

    formset = NewestRowsFormSet
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ConsentRecordInline(ReadOnlyInline):
    model = ConsentRecord
    verbose_name_plural = f"Consent history (newest {INLINE_ROWS})"
    fields = readonly_fields = (
        "recorded_at",
        "topic",
        "status",
        "source",
        "actor",
        "text_version",
        "ip_address",
    )


class EventInline(ReadOnlyInline):
    model = Event
    verbose_name_plural = f"Events (newest {INLINE_ROWS})"
    ordering = ("-occurred_at",)
    fields = readonly_fields = ("occurred_at", "name", "value", "currency", "properties")


class StageChangeInline(ReadOnlyInline):
    model = StageChange
    verbose_name_plural = f"Stage history (newest {INLINE_ROWS})"
    fields = readonly_fields = ("changed_at", "from_stage", "to_stage", "cause")


class ConsentFilter(admin.SimpleListFilter):
    """Filter by the current consent on any topic: "Email marketing: granted"."""

    title = "consent"
    parameter_name = "consent"
    NONE = "none"

    def lookups(self, request, model_admin):
        return [
            (f"{topic.key}:{status}", f"{topic.name}: {label.lower()}")
            for topic in Topic.objects.order_by("name")
            for status, label in [*ConsentStatus.choices, (self.NONE, "Never asked")]
        ]

    def queryset(self, request, queryset):
        if not self.value() or ":" not in self.value():
            return queryset
        topic, status = self.value().split(":", 1)
        if status == self.NONE:
            return queryset.exclude(consents__topic__key=topic)
        return queryset.filter(consents__topic__key=topic, consents__status=status)


class LapsedFilter(admin.SimpleListFilter):
    """Buyers with no purchase for LADDER_LAPSE_DAYS, the win-back audience."""

    title = "lapsed"
    parameter_name = "lapsed"

    def lookups(self, request, model_admin):
        return [("yes", "Lapsed"), ("no", "Not lapsed")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(lapsed_at__isnull=self.value() == "no")
        return queryset


#: Metrics the feedback loop keeps (docs/lifecycle.md); shown, never typed in.
METRICS = (
    "orders_count",
    "revenue",
    "first_purchase_at",
    "last_purchase_at",
    "lapsed_at",
    "last_open_at",
    "last_click_at",
    "open_rate",
    "click_rate",
    "engagement_score",
    "clv",
)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("__str__", "full_name", "stage", "orders_count", "revenue", "created_at")
    list_filter = ("stage", LapsedFilter, ConsentFilter, "created_at")
    search_fields = ("email", "external_id", "first_name", "last_name")
    readonly_fields = ("stage_changed_at", *METRICS, "created_at", "updated_at", "erased_at")
    fieldsets = (
        (None, {"fields": ("email", "external_id", "first_name", "last_name")}),
        ("Preferences", {"fields": ("locale", "time_zone", "attributes")}),
        ("Lifecycle", {"fields": ("stage", "stage_changed_at")}),
        ("Metrics", {"fields": METRICS}),
        ("Record", {"fields": ("created_at", "updated_at", "erased_at")}),
    )
    inlines = (ConsentRecordInline, StageChangeInline, EventInline)
    list_per_page = 50
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        # A stage picked by hand goes through stage_set, so history records who did it.
        if change and "stage" in form.changed_data:
            new_stage = obj.stage
            obj.stage = form.initial["stage"]
            super().save_model(request, obj, form, change)
            stage_set(customer=obj, stage=new_stage, cause=f"set in admin by {request.user}")
        else:
            super().save_model(request, obj, form, change)


class RuleField(forms.JSONField):
    """A rule as indented JSON: a marketer reads and edits it as a block, not a line."""

    def prepare_value(self, value):
        if isinstance(value, str):  # what was typed, when the form comes back with errors
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class LadderRuleForm(forms.ModelForm):
    rule = RuleField(
        widget=forms.Textarea(attrs={"rows": 20, "cols": 90, "style": "font-family: monospace"}),
        help_text=LadderRule._meta.get_field("rule").help_text,
    )

    class Meta:
        model = LadderRule
        fields = ("rule", "description")


@admin.register(LadderRule)
class LadderRuleAdmin(admin.ModelAdmin):
    """The ladder: one rule per stage, edited here, checked on save (``LadderRule.clean``).

    Stages are fixed (the rule language orders them), so rows are neither
    added nor deleted; a stage nobody should reach gets ``{"any": []}``.
    """

    form = LadderRuleForm
    list_display = ("stage", "description", "customers", "updated_at")
    list_display_links = ("stage",)
    readonly_fields = ("stage", "updated_at")
    fields = ("stage", "rule", "description", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        on_stage = (
            Customer.objects.filter(stage=OuterRef("stage"))
            .order_by()
            .values("stage")
            .annotate(n=Count("pk"))
            .values("n")
        )
        ladder_order = Case(
            *(When(stage=stage, then=Value(n)) for n, stage in enumerate(Stage.values)),
            output_field=IntegerField(),
        )
        return (
            super()
            .get_queryset(request)
            .annotate(position=ladder_order, on_stage=Subquery(on_stage))
            .order_by("position")
        )

    @admin.display(description="customers on this stage")
    def customers(self, obj: LadderRule) -> int:
        return obj.on_stage or 0

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        obj.updated_at = clock.now()
        super().save_model(request, obj, form, change)
        messages.info(
            request,
            f"The {obj.get_stage_display()} rule applies to each customer at their next "
            "relevant event, and to everyone at the nightly sweep "
            "(python manage.py sweep_lifecycle runs it now).",
        )


@admin.register(ChurnEstimate)
class ChurnEstimateAdmin(admin.ModelAdmin):
    """What each nightly sweep measured: the lifespan behind every CLV."""

    list_display = ("measured_at", "cohort", "churned", "lifespan_years")
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("key", "name")
    prepopulated_fields = {"key": ("name",)}


class SuppressionForm(forms.ModelForm):
    """Suppress by typing the address; only its hash is stored."""

    email = forms.EmailField(help_text="Stored as a SHA-256 hash, never as the address.")

    class Meta:
        model = Suppression
        fields = ("reason", "note")


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("address_hash", "reason", "note", "created_at")
    list_filter = ("reason",)
    search_fields = ("note",)
    readonly_fields = ("address_hash", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("email", "reason", "note")
        return ("address_hash", "reason", "note", "created_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = suppression_add(
            email=normalize_email(form.cleaned_data["email"]),
            reason=form.cleaned_data["reason"] or SuppressionReason.MANUAL,
            note=form.cleaned_data["note"],
        )
        obj.pk, obj.address_hash, obj.reason = created.pk, created.address_hash, created.reason


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw_key = api_key_create(name=obj.name)
        obj.pk, obj.prefix, obj.key_hash = key.pk, key.prefix, key.key_hash
        messages.warning(
            request,
            f"API key for “{key.name}”: {raw_key} — copy it now; it is stored only as a hash "
            "and will not be shown again.",
        )
