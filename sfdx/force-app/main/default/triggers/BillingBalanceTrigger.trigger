// Loop prevention and change events for BillingBalance__c: see BillingSyncTrigger.
trigger BillingBalanceTrigger on BillingBalance__c (before insert, before update, after insert, after update, after delete, after undelete) {
    BillingSyncTrigger.handle();
}
